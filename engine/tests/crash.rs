//! Crash points: an engine's journal, written through the simulated file system, is cut after
//! every write and after every flush. Whatever survives must rebuild a state the live engine
//! actually passed through (a prefix of the inputs, never a corrupt state), and under `sync`
//! nothing whose commit returned is ever lost, even on power loss.

use std::path::Path;

use oddsmatch_engine::shard::{Recorder, ReplayOptions, Start, replay_with};
use oddsmatch_engine::testkit::StreamGen;
use oddsmatch_engine::{Engine, EngineConfig, Input};
use oddsmatch_journal::{Durability, Journal, JournalConfig, SimIo};

const DIR: &str = "/sim/journal";

fn inputs() -> Vec<Input> {
    StreamGen::stream(21, 120)
}

/// The state hash after each prefix of `inputs` (index 0: the empty engine).
fn live_hashes(inputs: &[Input]) -> Vec<u64> {
    let mut engine: Engine = Engine::new(EngineConfig::small());
    let mut events = Vec::new();
    let mut hashes = vec![engine.state_hash()];
    for input in inputs {
        events.clear();
        engine.apply(input, &mut events);
        hashes.push(engine.state_hash());
    }
    hashes
}

fn config(durability: Durability) -> JournalConfig {
    let mut config = JournalConfig::new(DIR);
    config.segment_bytes = 64 * 1024;
    config.durability = durability;
    config
}

/// Records `inputs` until the simulated machine goes down; returns the last sequence number
/// whose commit returned `Ok`.
fn record_until_crash(io: &SimIo, inputs: &[Input], durability: Durability) -> u64 {
    let engine: Engine = Engine::new(EngineConfig::small());
    let Ok(mut recorder) = Recorder::<SimIo>::create_with(config(durability), &engine, io.clone())
    else {
        return 0;
    };
    let mut engine = engine;
    let mut events = Vec::new();
    let mut committed = 0;
    for input in inputs {
        events.clear();
        let seq = engine.apply(input, &mut events);
        if recorder.record(seq, input, &events).is_err() || recorder.commit().is_err() {
            return committed;
        }
        committed = seq;
    }
    committed
}

/// Recovers the image as a restarting shard would (open the journal, which truncates a torn
/// tail, then replay with every event checked) and returns the recovered sequence number.
fn recover(io: SimIo, hashes: &[u64], context: &str) -> u64 {
    let opened = Journal::open_with(config(Durability::Os), io.clone());
    let (journal, _) = match opened {
        Ok(opened) => opened,
        Err(error) => panic!("{context}: the journal does not open: {error}"),
    };
    drop(journal);
    let options = ReplayOptions {
        start: Start::Newest,
        to_seq: None,
        verify_events: true,
    };
    match replay_with(Path::new(DIR), io, options, &mut |_| {}) {
        Ok(replayed) => {
            let seq = replayed.engine.seq();
            replayed.engine.validate().unwrap();
            assert_eq!(
                replayed.engine.state_hash(),
                hashes[seq as usize],
                "{context}: the state at {seq} is not the one the live engine had"
            );
            seq
        }
        // Only a crash before the genesis snapshot was in place leaves nothing to start from.
        Err(oddsmatch_engine::shard::ReplayError::NoSnapshot { .. }) => 0,
        Err(error) => panic!("{context}: recovery failed: {error}"),
    }
}

fn total_ops(inputs: &[Input], durability: Durability) -> (u64, u64) {
    let io = SimIo::new();
    record_until_crash(&io, inputs, durability);
    (io.writes(), io.flushes())
}

#[test]
fn a_crash_after_any_write_recovers_a_prefix() {
    let inputs = inputs();
    let hashes = live_hashes(&inputs);
    for durability in [Durability::Os, Durability::Sync] {
        let mut lost_on_power_loss = 0;
        let mut prefixes = std::collections::BTreeSet::new();
        let (writes, _) = total_ops(&inputs, durability);
        assert!(writes > inputs.len() as u64);
        for n in 1..=writes {
            let io = SimIo::new();
            io.crash_after_writes(n);
            let committed = record_until_crash(&io, &inputs, durability);
            let context = format!("{durability}, crash after write {n}");
            // A process crash keeps the page cache: everything written survives.
            let seq = recover(io.after_process_crash(), &hashes, &context);
            assert!(seq >= committed, "{context}: lost {committed} -> {seq}");
            prefixes.insert(seq);
            // A power loss keeps only what was flushed, maybe part of the last write.
            for torn in [None, Some(1), Some(7)] {
                let seq = recover(io.after_power_loss(torn), &hashes, &context);
                if durability == Durability::Sync {
                    assert!(
                        seq >= committed,
                        "{context}, power loss {torn:?}: committed {committed}, recovered {seq}"
                    );
                } else if seq < committed {
                    lost_on_power_loss += 1;
                }
            }
        }
        // The cuts land everywhere: recovery found every prefix of the stream.
        assert_eq!(prefixes.len(), inputs.len() + 1, "{durability}");
        if durability == Durability::Os {
            // Without flushes a power loss does lose records: the checks above can fail.
            assert!(lost_on_power_loss > 0);
        }
    }
}

#[test]
fn a_crash_after_any_flush_recovers_a_prefix_and_keeps_every_commit() {
    let inputs = inputs();
    let hashes = live_hashes(&inputs);
    let (_, flushes) = total_ops(&inputs, Durability::Sync);
    assert!(flushes >= inputs.len() as u64, "sync flushes every commit");
    for n in 1..=flushes {
        let io = SimIo::new();
        io.crash_after_flushes(n);
        let committed = record_until_crash(&io, &inputs, Durability::Sync);
        let context = format!("sync, crash after flush {n}");
        let seq = recover(io.after_power_loss(None), &hashes, &context);
        assert!(
            seq >= committed,
            "{context}: committed {committed}, recovered {seq}"
        );
    }
}
