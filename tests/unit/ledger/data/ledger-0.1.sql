-- A ledger as asapp-intercom-migration 0.1 wrote it (SQLite, no version table): every table, a row in each,
-- and the small state values in their bare 0.1 shapes. Made by running 0.1's Ledger, then `sqlite3 .dump`.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE records (
	migration_id VARCHAR(64) NOT NULL, 
	object_type VARCHAR(32) NOT NULL, 
	source_id VARCHAR(255) NOT NULL, 
	intercom_id VARCHAR(64), 
	state VARCHAR(16) NOT NULL, 
	origin VARCHAR(16), 
	action VARCHAR(16), 
	payload_hash VARCHAR(64), 
	progress JSON, 
	previous_state JSON, 
	run_id VARCHAR(250), 
	intent_at DATETIME, 
	updated_at DATETIME, 
	PRIMARY KEY (migration_id, object_type, source_id)
);
INSERT INTO records VALUES('acme','contact','email:ada@example.com','c1','done','existing','updated','h1',NULL,'{"id": "c1", "name": "Ada"}','manual__1','2026-12-02 08:44:02.289478','2026-12-02 08:44:02.291367');
CREATE TABLE parts (
	migration_id VARCHAR(64) NOT NULL, 
	conversation_source_id VARCHAR(255) NOT NULL, 
	part_key VARCHAR(255) NOT NULL, 
	intercom_part_id VARCHAR(64), 
	state VARCHAR(16) NOT NULL, 
	run_id VARCHAR(250), 
	intent_at DATETIME, 
	PRIMARY KEY (migration_id, conversation_source_id, part_key)
);
INSERT INTO parts VALUES('acme','21400001','m1','p1','done','manual__1','2026-12-02 08:44:02.292295');
CREATE TABLE quarantine (
	migration_id VARCHAR(64) NOT NULL, 
	object_type VARCHAR(64) NOT NULL, 
	source_id VARCHAR(512) NOT NULL, 
	run_id VARCHAR(250), 
	reason TEXT NOT NULL, 
	detail JSON, 
	created_at DATETIME, 
	resolved_at DATETIME, 
	PRIMARY KEY (migration_id, object_type, source_id)
);
INSERT INTO quarantine VALUES('acme','conversation','21400002','manual__1','conversation has no messages','null','2026-12-02 08:44:02.294610',NULL);
CREATE TABLE staged_files (
	migration_id VARCHAR(64) NOT NULL, 
	feed VARCHAR(64) NOT NULL, 
	partition VARCHAR(64) NOT NULL, 
	file_name VARCHAR(255) NOT NULL, 
	tag VARCHAR(255) NOT NULL, 
	rows INTEGER NOT NULL, 
	quarantined INTEGER NOT NULL, 
	channel VARCHAR(32), 
	columns JSON, 
	staged_at DATETIME, 
	PRIMARY KEY (migration_id, feed, partition, file_name)
);
INSERT INTO staged_files VALUES('acme','utterances','dt=2026-01-05/hr=00/mi=00','utterances.jsonl','etag1',3,0,'s3','{"issue_id": "BIGINT"}','2026-12-02 08:44:02.296279');
CREATE TABLE approvals (
	migration_id VARCHAR(64) NOT NULL, 
	map_hash VARCHAR(64) NOT NULL, 
	field_map JSON NOT NULL, 
	approved_by VARCHAR(255), 
	approved_at DATETIME, 
	run_id VARCHAR(250), 
	PRIMARY KEY (migration_id, map_hash)
);
INSERT INTO approvals VALUES('acme','hash1','[{"source": "x"}]','ops','2026-01-06 00:00:00.000000','manual__1');
CREATE TABLE events (
	seq INTEGER NOT NULL, 
	migration_id VARCHAR(64) NOT NULL, 
	event_id VARCHAR(64) NOT NULL, 
	create_time DATETIME, 
	feed VARCHAR(64), 
	event_type VARCHAR(64), 
	issue_id VARCHAR(64), 
	envelope JSON NOT NULL, 
	source VARCHAR(16) NOT NULL, 
	received_at DATETIME, 
	PRIMARY KEY (seq), 
	CONSTRAINT one_row_per_event UNIQUE (migration_id, event_id)
);
INSERT INTO events VALUES(1,'acme','e1','2026-01-07 00:00:00.000000','com.asapp.event.journey',NULL,'21400001','{"event_id": "e1", "name": "com.asapp.event.journey", "meta_data": {"create_time": "2026-01-07T00:00:00Z", "issue_id": "21400001"}}','pull','2026-12-02 08:44:02.299715');
CREATE TABLE state (
	migration_id VARCHAR(64) NOT NULL, 
	"key" VARCHAR(128) NOT NULL, 
	value JSON, 
	updated_at DATETIME, 
	PRIMARY KEY (migration_id, "key")
);
INSERT INTO state VALUES('acme','realtime.cursor','"eyJmIjoiam91cm5leSIsInMiOjF9"','2026-12-02 08:44:02.300975');
INSERT INTO state VALUES('acme','attachments.states_to_restore','{"101": "closed"}','2026-12-02 08:44:02.302131');
INSERT INTO state VALUES('acme','delta.migrated_through','{"staged_at": "2026-01-06T10:00:00+00:00", "event_seq": 1}','2026-12-02 08:44:02.302693');
INSERT INTO state VALUES('acme','realtime.cursor_expired','{"noticed_at": "2026-01-06T10:00:00+00:00", "last_event_before": null}','2026-12-02 08:44:02.303171');
CREATE INDEX records_by_intercom_id ON records (migration_id, object_type, intercom_id);
COMMIT;
