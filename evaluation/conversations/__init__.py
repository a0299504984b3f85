"""Conversation-level evaluation (`make eval-conversations`): evaluation only, never training.

Each scenario in scenarios/*.yml (format: FORMAT.md) is one customer with one goal. The runner
plays it against the embedded stack on a fresh copy of a demo customer, answers verification
prompts as that customer would, and judges what the assistant said and what changed in the store.

Modules, one job each:
  scenarios    load and validate the scenario files
  placeholders fill {account_number}, {zip}, ... with the copy's details
  prompts      recognise the assistant's verification prompts and the "you're verified" moment
  customer     the simulated customer: its automatic answers, with a loop guard
  clones       a fresh copy of a demo customer in the account store
  channels     REST and SMS (the Twilio fake) senders
  effects      snapshots of the customer's rows and the effects defined over two of them
  judge        the checks: expect_any, success, never_said, account data before verification
  runner       starts the stack and plays every scenario
  report       reports/eval/conversations.md and .json, and the printed summary
"""
