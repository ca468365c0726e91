//! Migrations from several instances at once: on PostgreSQL under sqlx's advisory lock,
//! and under the lock row that stands in for it on engines without advisory locks
//! (CockroachDB), exercised here on PostgreSQL.

use portcullis::{
    clock::Clock,
    config::DatabaseUrl,
    storage::{Db, migrate::postgres_with_lock_row},
};

use crate::helpers::{Backend, fresh_database, postgres_available};

async fn pools(url: &str, n: usize) -> Vec<sqlx::PgPool> {
    let url = DatabaseUrl::parse(url).expect("url");
    let mut out = Vec::new();
    for _ in 0..n {
        match Db::connect(&url, 2).await.expect("connect") {
            Db::Postgres(pool) => out.push(pool),
            Db::Sqlite { .. } => unreachable!("a postgres url"),
        }
    }
    out
}

async fn applied(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .expect("count migrations")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_instances_migrating_one_database_at_once_under_the_lock_row_all_succeed() {
    if !postgres_available() {
        return;
    }
    let (url, _dir) = fresh_database(Backend::Postgres).await;
    let pools = pools(&url, 6).await;
    let now = Clock::system().now();
    let mut runs = tokio::task::JoinSet::new();
    for pool in &pools {
        let pool = pool.clone();
        runs.spawn(async move { postgres_with_lock_row(&pool, now).await });
    }
    while let Some(ran) = runs.join_next().await {
        ran.expect("join")
            .unwrap_or_else(|e| panic!("an instance failed to migrate: {e}"));
    }
    let migrations = std::fs::read_dir("migrations/postgres")
        .expect("migrations folder")
        .count();
    assert_eq!(
        applied(&pools[0]).await,
        i64::try_from(migrations).expect("count")
    );
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM portcullis_migration_lock")
        .fetch_one(&pools[0])
        .await
        .expect("lock rows");
    assert_eq!(left, 0, "the lock row is released after migrating");
    // A migrator that died holding the lock keeps others out only until it expires.
    sqlx::query(
        "INSERT INTO portcullis_migration_lock (id, holder, expires_at) VALUES (1, 'dead', $1)",
    )
    .bind(now - 1)
    .execute(&pools[0])
    .await
    .expect("a stale lock");
    postgres_with_lock_row(&pools[1], now)
        .await
        .expect("a stale lock is taken over");
    // And the ordinary path (advisory lock) agrees the database is up to date.
    Db::Postgres(pools[2].clone())
        .migrate(now)
        .await
        .expect("nothing left to apply");
}
