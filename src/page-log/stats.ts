/** The counters a PageLog and its writers report (`stats`). */

/** Counters of a {@link PageLog} (a snapshot). */
export interface PageLogStats {
  /**
   * Pages appended: this log's own appends as they return their address;
   * for a shared log also its writers' appends, counted when the owner
   * seals the buffer they went to (until then they show in each writer's
   * own `stats`; their pages are indexed as they are committed).
   */
  readonly appends: number
  /** Appends that had to wait for a flush (returned a `Promise`). */
  readonly stalls: number
  /** Buffers sealed into their segments by this log (full, or at `close()`). */
  readonly flushes: number
  /** Commits run by `flush()` (and the timer): each covers every call that waited for it, with one `fdatasync`. A shared log's writers count those they run from their own threads (`writer.stats.commits`). */
  readonly commits: number
  /** Segment files this log created (one per buffer, prepared one ahead). */
  readonly segmentsCreated: number
  /** Unsealed segments whose torn tail recovery cut at `open` (not an error). */
  readonly tornTails: number
  /** Bytes `open` read to recover the directory (segment indexes and trailers, unsealed tails; version-1 page files whole). */
  readonly recoveryBytesRead: number
  /** Bytes the page-id index holds (a hash table in Rust, reported to V8 as external memory). */
  readonly indexBytes: number
  /** Files open for reads now (at most `maxOpenFiles` segments, and as many version-1 page files). */
  readonly openFiles: number
  /** Background flushes that failed (each is retried by the next `flush()`/`close()`). */
  readonly flushErrors: number
  /** Unflushed buffers now (active + sealed and not yet durable). */
  readonly buffers: number
  /** The most unflushed buffers there ever were at once (never above `maxBuffers`). */
  readonly peakBuffers: number
  /** Segments and version-1 page files found by recovery (quarantined ones excluded). */
  readonly recoveredFiles: number
  /** Segments and page files renamed to `.corrupt` by recovery. */
  readonly quarantined: number
  /** 1 when `open` loaded the page index from the directory's checkpoint (`index.pwi`: its covered segments' indexes were not read), else 0. */
  readonly checkpointLoaded: number
  /** 1 when the directory had a checkpoint that `open` did not use (it did not check, or a segment it covers was gone or changed): the index was rebuilt from every segment, as without one. */
  readonly checkpointIgnored: number
  /** Checkpoints this log wrote (by the seal job, and at `close()`). */
  readonly checkpointsWritten: number
  /** Checkpoint writes that failed (never an error of `close()`: the next `open` reads every segment). */
  readonly checkpointErrors: number
  /** Arenas allocated fresh for buffers (at most `maxBuffers` while the garbage collector keeps up: flushed arenas are reused). */
  readonly arenasCreated: number
  /** Buffers that reused the arena of a flushed one (already faulted in). */
  readonly arenasReused: number
}

/** Counters of a {@link PageLogWriter} (a snapshot). */
export interface PageLogWriterStats {
  /** Pages appended through this writer. */
  readonly appends: number
  /** Appends that had to wait (for the next buffer, or for a flush to free one). */
  readonly stalls: number
  /** Commits this writer ran from its own thread (`flush()` calls made while one runs share the next). */
  readonly commits: number
}
