"""The guides' examples: a dev app whose tasks any tenant's code may enqueue."""
