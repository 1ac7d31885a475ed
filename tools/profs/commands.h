/* The profs subcommands. Each lives in its own file cmd_<name>.c and is listed
 * here once: PROFS_COMMAND(name-on-command-line, c_identifier, one-line summary). */
PROFS_COMMAND("version", version, "print the libprofs version")
PROFS_COMMAND("pairs", pairs, "check a preference-pair file and summarise it")
PROFS_COMMAND("demo-model", demo_model, "write the demo model (GPT-2 with a planted toxic mechanism)")
PROFS_COMMAND("report", report, "render the HTML page of a JSON edit report")
