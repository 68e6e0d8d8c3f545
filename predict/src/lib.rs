//! Prescient's forecasting engine: series store, models, model selection by rolling backtest,
//! calibrated intervals, adaptive horizon and anomaly detection. Pure and deterministic.
