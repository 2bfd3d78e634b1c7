"""`make chaos`: faults injected into a busy suite, and the proof that nothing was lost."""
