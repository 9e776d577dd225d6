//! Typed bindings generated at compile time from the committed artifacts in
//! `contracts/artifacts/` (ABI, creation and runtime bytecode), so building needs no Node.js.
//!
//! Each contract is a module named after it, holding one struct per function (`xxxCall`,
//! with `xxxReturn`), event and error, the `XxxCalls` / `XxxEvents` / `XxxErrors` enums, the
//! `constructorCall` and the `BYTECODE` / `DEPLOYED_BYTECODE` statics. Structs declared in a
//! contract (e.g. `EhrRegistry::Warrant`) live in its module.

#![allow(missing_docs, clippy::too_many_arguments)]

use alloy_sol_types::sol;

sol!(
    #[sol(all_derives)]
    Directory,
    "../../contracts/artifacts/Directory.json"
);

sol!(
    #[sol(all_derives)]
    RecordRegistry,
    "../../contracts/artifacts/RecordRegistry.json"
);

sol!(
    #[sol(all_derives)]
    AccessControl,
    "../../contracts/artifacts/AccessControl.json"
);

sol!(
    #[sol(all_derives)]
    KeyAuthorization,
    "../../contracts/artifacts/KeyAuthorization.json"
);

sol!(
    #[sol(all_derives)]
    UpdateLog,
    "../../contracts/artifacts/UpdateLog.json"
);

sol!(
    #[sol(all_derives)]
    EhrRegistry,
    "../../contracts/artifacts/EhrRegistry.json"
);
