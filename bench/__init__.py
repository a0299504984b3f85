"""`make bench`: our assistant and the stock `rasa init` assistant under the same load."""
