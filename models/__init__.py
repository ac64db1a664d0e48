"""Models: the thinking contract, chat templates and tokenizers, model resolution and loading."""
