-- fnguard_version() reports the version and the build.
SELECT 'version', json_extract(fnguard_version(), '$.version') = '0.1.0';
SELECT 'blas', json_extract(fnguard_version(), '$.blas') LIKE 'OpenBLAS %';
SELECT 'sqlite', json_extract(fnguard_version(), '$.sqlite') = sqlite_version();
