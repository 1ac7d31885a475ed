/* edit_model: the whole ProFS pipeline through the public API.
 *
 *   edit_model MODEL_DIR PAIRS.tsv OUT_DIR [RANK_MAX]
 *
 * MODEL_DIR is a Hugging Face model directory (config.json, safetensors,
 * tokenizer.json); PAIRS.tsv has one pair per line, "preferred<TAB>dispreferred".
 * Collects the pooled block outputs of every pair with the built-in runtime,
 * estimates each layer's subspace with ScreeNOT, projects it out of the MLP
 * value matrices and writes the edited model to OUT_DIR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <profs/profs.h>

#define CHECK(call) do { int rc_ = (call); if (rc_ < 0) { fprintf(stderr, "edit_model: %s: %s\n", \
    profs_strerror(rc_), profs_last_error()); goto done; } } while (0)

static char line[8192];

int main(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "usage: edit_model MODEL_DIR PAIRS.tsv OUT_DIR [RANK_MAX]\n"); return 2; }
    size_t rank_max = argc > 4 ? (size_t)atoi(argv[4]) : 10, n = 0, cap = 0;
    char **pref = NULL, **disp = NULL;
    profs_lm *lm = NULL; profs_collector *c = NULL; profs_estimator *e = NULL;
    profs_edit *edit = NULL; profs_model *model = NULL; profs_edit_report *report = NULL;
    int status = 1;

    FILE *f = fopen(argv[2], "r");                         /* 1. the pairs */
    if (!f) { perror(argv[2]); return 1; }
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        tab[1 + strcspn(tab + 1, "\r\n")] = 0;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            pref = realloc(pref, cap * sizeof *pref);
            disp = realloc(disp, cap * sizeof *disp);
        }
        pref[n] = strdup(line); disp[n++] = strdup(tab + 1);
    }
    fclose(f);

    CHECK(profs_lm_open(&lm, argv[1]));                    /* 2. embeddings of every pair */
    CHECK(profs_collector_new(&c, profs_lm_n_layers(lm), profs_lm_hidden_size(lm)));
    CHECK(profs_lm_collect(lm, c, (const char *const *)pref, (const char *const *)disp, n, NULL, NULL));
    printf("%s: %zu pairs, %zu layers x %zu\n", profs_lm_architecture(lm), n,
           profs_lm_n_layers(lm), profs_lm_hidden_size(lm));

    CHECK(profs_estimator_new(&e));                        /* 3. subspaces, ScreeNOT rank */
    CHECK(profs_estimator_set_rank_rule(e, PROFS_RANK_SCREENOT, rank_max));
    CHECK(profs_edit_estimate(&edit, e, c, NULL, 0, NULL, NULL));

    CHECK(profs_model_open(&model, argv[1]));              /* 4. project, 5. save */
    CHECK(profs_edit_apply(&report, edit, model, PROFS_TARGET_VALUE));
    CHECK(profs_model_save(model, argv[3], NULL, NULL));
    for (size_t i = 0; i < profs_edit_report_count(report); i++)
        printf("layer %2zu rank %zu  %-40s |change| %.4f of |W| %.4f\n", profs_edit_report_layer(report, i),
               profs_edit_report_rank(report, i), profs_edit_report_name(report, i),
               profs_edit_report_delta_norm(report, i), profs_edit_report_weight_norm(report, i));
    printf("edited model written to %s\n", argv[3]);
    status = 0;
done:
    profs_model_free(model);          /* before the report: its staged transforms point into it */
    profs_edit_report_free(report);
    profs_edit_free(edit); profs_estimator_free(e); profs_collector_free(c); profs_lm_free(lm);
    for (size_t i = 0; i < n; i++) { free(pref[i]); free(disp[i]); }
    free(pref); free(disp);
    return status;
}
