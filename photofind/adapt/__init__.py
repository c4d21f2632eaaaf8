"""'Adapt to my library': the trainers on the frozen model (prompts, concept words, the
residual adapter, the reranker's head) and the files they save. The job that runs them on a
library (re-embedding, swapping the index) is ``photofind.services.adapting``."""
