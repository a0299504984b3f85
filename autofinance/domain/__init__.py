"""Pure domain rules (money, calendar, hours, parsing): no I/O; anything may import them, they import only each other."""
