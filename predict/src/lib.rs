//! Prescient's forecasting engine: series store, models, model selection by rolling backtest,
//! calibrated intervals, adaptive horizon and anomaly detection.
//!
//! Pure and deterministic: no I/O except trace parsing from a caller-supplied `Read`, no clock
//! (callers pass time in), no global state. Same inputs, same forecasts.

pub mod backtest;
pub mod calendar;
pub mod conditional;
mod error;
mod history;
pub mod horizon;
pub mod interval;
mod linalg;
pub mod model;
mod predictor;
mod replayed;
pub mod season;
pub mod store;
pub mod trace;

pub use backtest::{
    choose_pooled, choose_stack, evaluate_auto_stacked, evaluate_columns, evaluate_series,
    fit_pooled, prepare, BacktestConfig, BacktestRow, Missing, Normalise, Part, Pooled, Protocol,
    Score, StackConfig,
};
pub use calendar::{Calendar, Event, Scope};
pub use error::PredictError;
pub use history::History;
pub use horizon::HorizonPolicy;
pub use model::{Forecaster, ModelKind};
pub use predictor::{AnomalyKind, Forecast, Outlier, Predictor, PredictorConfig};
pub use season::Seasons;
pub use store::{Anomaly, SeriesStore, StoreConfig};
pub use trace::{read_trace, Trace, TraceFormat};
