"""What a population sees: the paper's Sec. 5 analyses (narration level, SAE dictionary, stability, concept axes).

`run.interrogate` is the entry point; each analysis is a pure function in its own module.
"""
