"""Applications built on the library: the demo (default model as a codec), the tour of the
quantizers on real photos, tokenizer evaluation."""
