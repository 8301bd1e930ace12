"""The table formats lamina reads, by file suffix: one list for the reader (lamina.data.read), the CLI's help
and its error messages. Kept free of imports so that `lamina --help` stays fast."""

TEXT_SUFFIXES = {".csv", ".tsv", ".tab", ".txt"}
TAB_SUFFIXES = {".tsv", ".tab"}  # tab-separated by name; other text tables have their separator sniffed
PARQUET_SUFFIXES = {".parquet", ".pq"}
JSON_LINES_SUFFIXES = {".jsonl", ".ndjson", ".json"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}  # read by openpyxl (the `excel` extra)
COMPRESSED = [".gz", ".bz2", ".xz", ".zip"]  # gzip, bzip2, xz, or a zip archive holding one table
SUPPORTED = sorted([*TEXT_SUFFIXES, *PARQUET_SUFFIXES, *JSON_LINES_SUFFIXES, *EXCEL_SUFFIXES])
FORMATS = f"{' '.join(SUPPORTED)}; each also compressed: {' '.join(COMPRESSED)}"  # for help texts and messages
