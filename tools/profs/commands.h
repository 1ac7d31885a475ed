/* The profs subcommands. Each lives in its own file cmd_<name>.c and is listed
 * here once: PROFS_COMMAND(name-on-command-line, c_identifier, one-line summary). */
PROFS_COMMAND("version", version, "print the libprofs version")
PROFS_COMMAND("pairs", pairs, "check a preference-pair file and summarise it")
PROFS_COMMAND("demo-model", demo_model, "write the demo model (GPT-2 with a planted toxic mechanism)")
PROFS_COMMAND("report", report, "render the HTML page of a JSON edit report")
PROFS_COMMAND("edit", edit, "edit a model directory with ProFS (the whole pipeline)")
PROFS_COMMAND("collect", collect, "collect pooled embeddings of preference pairs")
PROFS_COMMAND("estimate", estimate, "estimate per-layer subspaces from embeddings")
PROFS_COMMAND("apply", apply, "apply an edit file to a model directory")
PROFS_COMMAND("inspect", inspect, "show an edit: ranks, singular values, tokens per direction")
PROFS_COMMAND("eval", eval, "watch-word mass, continuation rate and perplexity of a model")
PROFS_COMMAND("demo", demo, "the end-to-end demo on a small model with a planted toxic mechanism")
PROFS_COMMAND("tokenize", tokenize, "print the token ids of each stdin line (JSON arrays)")
