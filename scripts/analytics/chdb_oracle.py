#!/usr/bin/env python3
"""Modern ClickHouse (chdb, embedded, from PyPI) as an oracle for Keel's analytics conformance tests.

Reads one JSON document on stdin:

    {"tables":  [{"ddl": "CREATE TABLE orders (...) ENGINE = MergeTree ORDER BY ts",
                  "name": "orders",
                  "ndjson": "<rows, one JSON object a line, as Keel inserts them>"}],
     "queries": ["<the query PipeCompiler.clickhouse rendered>", ...]}

creates the tables in a throwaway chdb session, inserts the rows (JSONEachRow), runs each query with
FORMAT JSON and writes one line per query to stdout, in order:

    {"ok": true,  "json": "<ClickHouse's FORMAT JSON answer, as text>"}
    {"ok": false, "error": "<ClickHouse's message>"}

The answer is passed on as text so 64-bit integers and floats reach the caller exactly as ClickHouse wrote
them. A failure to set up the tables is written to stderr with exit status 1. The session runs in UTC with
64-bit integers unquoted, as Keel's ClickHouse engine asks of a server.

    python chdb_oracle.py < request.json
    python chdb_oracle.py --version            prints chdb's ClickHouse version
"""

import json
import shutil
import sys
import tempfile


def main() -> int:
    try:
        from chdb import session as chdb_session
    except ImportError as error:
        print(f"chdb_oracle: chdb is not installed ({error}); pip install chdb", file=sys.stderr)
        return 2

    directory = tempfile.mkdtemp(prefix="keel-chdb-")
    try:
        connection = chdb_session.Session(directory)
        if sys.argv[1:] == ["--version"]:
            print(str(connection.query("SELECT version()", "TSVRaw")).strip())
            return 0

        request = json.load(sys.stdin)
        for setting in (
            "SET session_timezone = 'UTC'",
            "SET output_format_json_quote_64bit_integers = 0",
            "SET date_time_input_format = 'basic'",
        ):
            connection.query(setting)
        try:
            for table in request.get("tables", []):
                connection.query(table["ddl"])
                rows = table.get("ndjson", "")
                if rows.strip():
                    connection.query(f"INSERT INTO `{table['name']}` FORMAT JSONEachRow\n{rows}")
        except Exception as error:  # chdb raises its own exception types
            print(f"chdb_oracle: setting up the tables failed: {error}", file=sys.stderr)
            return 1

        for query in request.get("queries", []):
            statement = query.rstrip().rstrip(";")
            try:
                answer = connection.query(statement + "\nFORMAT JSON", "JSON")
                line = {"ok": True, "json": answer.bytes().decode("utf-8", "replace")}
            except Exception as error:
                line = {"ok": False, "error": str(error).strip()}
            sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        return 0
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
