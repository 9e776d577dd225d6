//! `gas`: seed 000 Table 3 operations (and all of ours), on the embedded chain and on an
//! external node in the same run.

use healthchain_ledger::gas::gas_table_standalone;

use crate::{BenchError, Figure, Goal, Options, Plot, PlotKind, Series, Stat, Suite, SuiteReport, Unit, peer_chain};

pub(crate) fn run(options: &Options) -> Result<SuiteReport, BenchError> {
    let mut report =
        SuiteReport::new(Suite::Gas, "seed 000 Table 3: gas per operation, embedded chain vs external node");
    let runtime = crate::runtime(Suite::Gas)?;
    let (rows, peer_name) = runtime.block_on(async {
        let peer = peer_chain(options, Suite::Gas, &mut report).await?;
        let rows = gas_table_standalone(peer.as_ref().map(|p| p.url()))
            .await
            .map_err(|e| BenchError::failed(Suite::Gas, e))?;
        Ok::<_, BenchError>((rows, peer.map_or("external node", |p| p.name())))
    })?;
    let mut categories = Vec::new();
    let mut ours = Series { name: "healthchain".into(), points: Vec::new() };
    let mut paper = Series { name: "seed 000 (paper)".into(), points: Vec::new() };
    for row in rows {
        let mut figure = Figure::new(&row.operation, Unit::Gas, Stat::single(row.gas_embedded as f64));
        if let Some(external) = row.gas_external {
            figure = figure.peer(peer_name, Stat::single(external as f64));
        }
        if let Some(paper_gas) = row.paper_gas {
            let x = categories.len() as f64;
            categories.push(row.operation.clone());
            ours.points.push((x, Stat::single(row.gas_embedded as f64)));
            paper.points.push((x, Stat::single(paper_gas as f64)));
            figure = figure.paper(Unit::Gas.format(paper_gas as f64)).goal(Goal::AtMost(paper_gas as f64 * 0.5));
        }
        report.figures.push(figure);
    }
    report.plots.push(Plot {
        name: "gas_table3".into(),
        title: "Seed 000 Table 3: gas per operation".into(),
        x_label: "operation".into(),
        y_label: "gas".into(),
        kind: PlotKind::Bars { categories },
        series: vec![ours, paper],
    });
    Ok(report)
}
