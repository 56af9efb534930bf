//! [`Captured`]: a statement taken apart before it runs, so its text can be summarised and
//! it can still be handed to the driver exactly as the caller built it.

use sqlx::error::BoxDynError;
use sqlx::{Database, Execute, SqlStr};

/// The parts of an [`Execute`] value, read in the order the drivers read them.
pub(crate) struct Captured<DB: Database> {
    sql: SqlStr,
    statement: Option<DB::Statement>,
    arguments: Option<Result<Option<DB::Arguments>, BoxDynError>>,
    persistent: bool,
}

impl<DB: Database> Captured<DB> {
    pub(crate) fn new<'q, E: Execute<'q, DB>>(mut query: E) -> Self {
        let statement = query.statement().cloned();
        let arguments = query.take_arguments();
        // After `take_arguments`, as the drivers ask: `Map` answers from its arguments.
        let persistent = query.persistent();
        Captured {
            sql: query.sql(),
            statement,
            arguments: Some(arguments),
            persistent,
        }
    }

    pub(crate) fn sql(&self) -> &str {
        self.sql.as_str()
    }
}

impl<DB: Database> Execute<'_, DB> for Captured<DB> {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        self.statement.as_ref()
    }

    fn take_arguments(&mut self) -> Result<Option<DB::Arguments>, BoxDynError> {
        self.arguments.take().unwrap_or(Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}
