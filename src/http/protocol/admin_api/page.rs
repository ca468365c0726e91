//! Pagination of the admin API's lists: `?limit=&offset=`, and a `page` object beside
//! the `items` of every list answer.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::problem::Problem;

pub(in crate::http) const DEFAULT_LIMIT: u32 = 50;
pub(in crate::http) const MAX_LIMIT: u32 = 200;

/// Which slice of a list to answer with.
#[derive(Clone, Copy, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::http) struct PageQuery {
    /// How many items, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// How many to skip from the start (default 0).
    pub offset: Option<u64>,
}

impl PageQuery {
    /// The limit and offset to use, or a problem naming the bad one.
    pub(in crate::http) fn checked(self) -> Result<(u32, u64), Problem> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Problem::invalid_field(
                "limit",
                format!("limit must be from 1 to {MAX_LIMIT}"),
            ));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > i64::MAX as u64 {
            return Err(Problem::invalid_field("offset", "offset is too large"));
        }
        Ok((limit, offset))
    }
}

/// Where a list answer stands in the whole list.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct PageInfo {
    /// How many items match, in all.
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
    /// The offset of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u64>,
}

impl PageInfo {
    pub(in crate::http) fn new(total: u64, limit: u32, offset: u64, returned: usize) -> Self {
        let end = offset.saturating_add(returned as u64);
        Self {
            total,
            limit,
            offset,
            next_offset: (end < total && returned > 0).then_some(end),
        }
    }
}
