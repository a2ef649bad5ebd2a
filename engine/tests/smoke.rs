//! A first end-to-end check: a back meets a lay and the market settles.

use oddsmatch_engine::*;

fn run(engine: &mut Engine, lines: &str) -> Vec<Event> {
    let mut events = Vec::new();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let input: Input = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        engine.apply(&input, &mut events);
        engine.validate().unwrap();
    }
    events
}

#[test]
fn a_back_meets_a_lay() {
    let mut engine: Engine = Engine::new(EngineConfig::small());
    let events = run(
        &mut engine,
        r#"
{"ts":1,"cmd":"create_account","account":1}
{"ts":1,"cmd":"create_account","account":2}
{"ts":1,"cmd":"deposit","account":1,"amount":100000,"transfer_id":1}
{"ts":1,"cmd":"deposit","account":2,"amount":100000,"transfer_id":2}
{"ts":1,"cmd":"create_market","market":7,"selections":[1,2,3]}
{"ts":1,"cmd":"open_market","market":7}
{"ts":2,"cmd":"place_order","account":1,"market":7,"selection":1,"side":"back","odds":300,"stake":1000,"tif":"gtc","client_order_id":11}
{"ts":3,"cmd":"place_order","account":2,"market":7,"selection":1,"side":"lay","odds":310,"stake":400,"tif":"gtc","client_order_id":21}
{"ts":3,"cmd":"suspend_market","market":7}
{"ts":3,"cmd":"settle_market","market":7,"winners":[1]}
{"ts":4,"cmd":"balances"}
"#,
    );
    for e in &events {
        println!("{}", serde_json::to_string(e).unwrap());
    }
    assert_eq!(engine.balance(AccountId(1)), Some(100000 + 800));
    assert_eq!(engine.balance(AccountId(2)), Some(100000 - 800));
}
