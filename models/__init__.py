"""Pure domain core: value objects and rules. No I/O, no clock, no randomness."""
