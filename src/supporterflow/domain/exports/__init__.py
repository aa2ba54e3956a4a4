"""The datalake exports (spec/mobile-purchases.md §9) as pure rules: where each file goes
(``layout``), what each line holds (``lines``) and how a line becomes a typed Parquet row
(``columns``, ``encode``). The flows in ``functions/export_*.py`` feed them rows and write what
they produce."""
