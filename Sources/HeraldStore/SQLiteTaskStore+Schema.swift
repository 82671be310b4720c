import GRDB

extension SQLiteTaskStore {
    /// The schema this code writes; also stored as `meta.schema_version` so that an operator's
    /// `sqlite3 herald.sqlite 'select * from meta'` tells it without knowing GRDB.
    static let schemaVersion = 1

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            // `json` and `payload` are the actor's bytes, stored as BLOBs so SQLite never
            // re-encodes them. `status`, `seq` and `updated_at_ms` sit beside the JSON so that
            // retention and counts can be queried without parsing it.
            try db.execute(sql: """
                CREATE TABLE tasks (
                    id TEXT PRIMARY KEY NOT NULL,
                    json BLOB NOT NULL,
                    status TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    updated_at_ms INTEGER NOT NULL
                );
                CREATE INDEX tasks_status ON tasks(status);
                -- seq is the rowid: appends go to the end of the b-tree, and reading the ring
                -- in seq order is a plain table scan.
                CREATE TABLE events (
                    seq INTEGER PRIMARY KEY,
                    task_id TEXT NOT NULL,
                    owner TEXT,
                    payload BLOB NOT NULL
                );
                CREATE TABLE meta (
                    key TEXT PRIMARY KEY NOT NULL,
                    value
                );
                INSERT INTO meta(key, value) VALUES ('seq', 0), ('clean_shutdown', 0);
                """)
            try db.execute(sql: "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", arguments: [1])
            // A later migration ends with `UPDATE meta SET value = N WHERE key = 'schema_version'`.
        }
        return migrator
    }

    /// Brings a new or older database to `schemaVersion`; refuses one written by a newer
    /// Herald rather than guessing at its tables.
    static func migrate(_ dbQueue: DatabaseQueue) throws {
        let migrator = Self.migrator
        try dbQueue.read { db in
            if try db.tableExists("meta"),
               let version = try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'schema_version'"),
               version > schemaVersion
            {
                throw StoreError(description: "it was written by a newer Herald (schema \(version), this one knows \(schemaVersion))")
            }
            if try migrator.hasBeenSuperseded(db) {
                throw StoreError(description: "it was written by a newer Herald (unknown migrations)")
            }
        }
        try migrator.migrate(dbQueue)
    }
}
