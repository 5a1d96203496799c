'use strict';
// The group commit a user writes by hand on one file (the baseline of the
// "32 clients" durable-commit case, bench/commit.js): commit(buf) queues the
// bytes and returns a promise; whenever no write is in flight, everything
// queued goes out in one writev at the end of the file, then one fdatasync,
// then every waiter of that batch resolves (or rejects with the error).
// Commits that arrive meanwhile wait for the next batch. No record format, no
// index, no reads: the floor a log with group commit is measured against.
// `io` (default node:fs) is injectable for tests: { writev, fdatasync }.
// (No #private methods: the test runner's TS loader would lower them into
// helper imports, which turns this CommonJS file into an ES module.)
const fs = require('node:fs');

class GroupCommit {
  constructor(fd, io = fs) {
    Object.assign(this, { fd, io, queue: [], waiters: [], busy: false, position: 0, batches: 0, bytes: 0 });
  }

  commit(buf) {
    return new Promise((resolve, reject) => {
      this.queue.push(buf);
      this.waiters.push({ resolve, reject });
      if (!this.busy) this.batch();
    });
  }

  /** Writes and syncs everything queued, then settles its waiters (a private step). */
  batch() {
    this.busy = true;
    const bufs = this.queue, waiters = this.waiters;
    this.queue = [];
    this.waiters = [];
    const done = (err) => {
      for (const w of waiters) (err ? w.reject(err) : w.resolve());
      this.busy = false;
      if (this.queue.length > 0) this.batch();
    };
    const write = (rest) => this.io.writev(this.fd, rest, this.position, (err, n) => {
      if (err) return done(err);
      if (n === 0 && rest.some((b) => b.length > 0)) return done(new Error('writev wrote nothing'));
      this.position += n;
      this.bytes += n;
      // A short write: go on with what is left of the batch.
      while (rest.length > 0 && n >= rest[0].length) n -= rest.shift().length;
      if (rest.length > 0) return write([rest[0].subarray(n), ...rest.slice(1)]);
      this.io.fdatasync(this.fd, (e) => (e ? done(e) : (this.batches++, done(null))));
    });
    write(bufs.slice());
  }
}

module.exports = { GroupCommit };
