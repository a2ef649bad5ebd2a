//! Journaling an engine driven outside a shard thread (`oddsmatch sim --journal`, tests,
//! benchmarks): the same records the shard writes, so every journal tool reads them alike.

use oddsmatch_journal::{Io, Journal, JournalConfig, JournalError, MmapIo, SnapshotStore};

use crate::book::LadderBook;
use crate::command::Input;
use crate::engine::Engine;
use crate::event::Event;
use crate::record::{RECORD_INPUT, RecordCodec};

/// Writes each input an engine applied, with its events, as one journal record.
pub struct Recorder<I: Io = MmapIo> {
    journal: Journal<I>,
    codec: RecordCodec,
}

impl<I: Io> std::fmt::Debug for Recorder<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("last_seq", &self.journal.last_seq())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Starts a new journal in `config.dir` for `engine` (usually fresh), whose state is
    /// written as the journal's first snapshot. Refuses a directory that already holds a
    /// journal or snapshots.
    pub fn create(
        config: JournalConfig,
        engine: &Engine<LadderBook>,
    ) -> Result<Self, JournalError> {
        Recorder::create_with(config, engine, MmapIo)
    }
}

impl<I: Io> Recorder<I> {
    /// [`Recorder::create`] over the given file access (a `SimIo` in crash tests).
    pub fn create_with(
        config: JournalConfig,
        engine: &Engine<LadderBook>,
        io: I,
    ) -> Result<Self, JournalError> {
        let dir = config.dir.clone();
        let (journal, recovery) = Journal::open_with(config, io.clone())?;
        let store = SnapshotStore::open_with(&dir, io)?;
        if recovery.last_seq != 0 || !store.list()?.is_empty() {
            return Err(JournalError::NotEmpty { dir });
        }
        store.write(engine.seq(), &engine.snapshot())?;
        Ok(Recorder {
            journal,
            codec: RecordCodec::new(),
        })
    }

    /// Appends the record of one applied input (`seq` is what [`Engine::apply`] returned).
    pub fn record(
        &mut self,
        seq: u64,
        input: &Input,
        events: &[Event],
    ) -> Result<(), JournalError> {
        let payload = self.codec.encode(input, events);
        self.journal.append(seq, input.ts_ns, RECORD_INPUT, payload)
    }

    /// Ends a batch under the journal's durability policy.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        self.journal.commit()
    }

    /// Flushes everything to disk and closes the journal.
    pub fn finish(mut self) -> Result<u64, JournalError> {
        self.journal.flush()?;
        Ok(self.journal.last_seq())
    }
}
