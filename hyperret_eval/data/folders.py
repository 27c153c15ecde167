"""Where the datasets this project trains on lie under the data root, written once: the
unlabeled-text sources of HiCL and the default training data of Hypencoder and BE read
these. The task catalogue (``tasks/retrieval.toml``) is data, not code, so it spells the
same folders out; a test checks that the two agree."""

SCIFACT = "beir/scifact"
TREC_DL_2019_SUBSET = "beir/trec-dl-2019-subset"
