//! The KCL's lease table: one DynamoDB item per shard, keyed by `leaseKey` (the shard id),
//! holding `checkpoint` (the last sequence number processed, or `SHARD_END` once a closed
//! shard was read to its end), `leaseOwner`, `leaseCounter` and the shard's parents. The table
//! is named after the application (`kinesisAppName`) and created when missing.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;

use super::describe;

/// The checkpoint of a shard read to its end (the KCL's sentinel).
pub const SHARD_END: &str = "SHARD_END";

/// How long a new table may take to become active.
const CREATE_TIMEOUT: Duration = Duration::from_secs(120);

pub struct LeaseTable {
    client: Client,
    table: String,
    owner: String,
}

impl LeaseTable {
    /// The table `name`, created (keyed by `leaseKey`, on demand billing) when missing.
    pub async fn open(
        conf: &aws_config::SdkConfig,
        name: &str,
        owner: &str,
    ) -> Result<LeaseTable, String> {
        let client = Client::new(conf);
        let doing = format!("opening the DynamoDB lease table {name:?}");
        let status = match client.describe_table().table_name(name).send().await {
            Ok(out) => out.table().and_then(|t| t.table_status().cloned()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                log::info!("Kinesis: creating the DynamoDB lease table {name:?}");
                let created = client
                    .create_table()
                    .table_name(name)
                    .key_schema(
                        KeySchemaElement::builder()
                            .attribute_name("leaseKey")
                            .key_type(KeyType::Hash)
                            .build()
                            .map_err(|e| format!("{doing}: {e}"))?,
                    )
                    .attribute_definitions(
                        AttributeDefinition::builder()
                            .attribute_name("leaseKey")
                            .attribute_type(ScalarAttributeType::S)
                            .build()
                            .map_err(|e| format!("{doing}: {e}"))?,
                    )
                    .billing_mode(BillingMode::PayPerRequest)
                    .send()
                    .await;
                match created {
                    Ok(out) => out
                        .table_description()
                        .and_then(|t| t.table_status().cloned()),
                    // Another program created it meanwhile.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_resource_in_use_exception()) =>
                    {
                        None
                    }
                    Err(e) => return Err(describe(&doing, &e).replace("Kinesis: ", "DynamoDB: ")),
                }
            }
            Err(e) => return Err(describe(&doing, &e).replace("Kinesis: ", "DynamoDB: ")),
        };
        let table = LeaseTable {
            client,
            table: name.to_string(),
            owner: owner.to_string(),
        };
        if status != Some(TableStatus::Active) {
            table.wait_active().await?;
        }
        Ok(table)
    }

    async fn wait_active(&self) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + CREATE_TIMEOUT;
        loop {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| describe("waiting for the lease table", &e))?;
            if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "DynamoDB: the lease table {:?} did not become active in {} s",
                    self.table,
                    CREATE_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every lease in the table.
    pub async fn scan(&self) -> Result<HashMap<String, Lease>, String> {
        let mut out = HashMap::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| {
                    describe(format!("reading the lease table {:?}", self.table), &e)
                        .replace("Kinesis: ", "DynamoDB: ")
                })?;
            for item in page.items() {
                let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
                let Some(shard) = text("leaseKey") else {
                    continue;
                };
                let counter = item
                    .get("leaseCounter")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok());
                let parents = item
                    .get("parentShardId")
                    .and_then(|v| v.as_ss().ok())
                    .cloned()
                    .unwrap_or_default();
                out.insert(
                    shard,
                    Lease {
                        owner: text("leaseOwner").filter(|o| !o.is_empty()),
                        counter,
                        checkpoint: text("checkpoint").filter(|c| !c.is_empty()),
                        parents,
                    },
                );
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// Take the lease of `shard` if its counter is still `counter` (`None`: never leased):
    /// the new counter, or `None` when another worker changed it first.
    pub async fn take(&self, shard: &str, counter: Option<i64>) -> Result<Option<i64>, String> {
        let mut update = self
            .update(shard)
            .update_expression(
                "SET leaseOwner = :o, ownerSwitchesSinceCheckpoint = \
                 if_not_exists(ownerSwitchesSinceCheckpoint, :z) + :one ADD leaseCounter :one",
            )
            .expression_attribute_values(":z", AttributeValue::N("0".into()));
        update = match counter {
            Some(c) => update
                .condition_expression("leaseCounter = :c")
                .expression_attribute_values(":c", AttributeValue::N(c.to_string())),
            None => update.condition_expression("attribute_not_exists(leaseCounter)"),
        };
        self.send(update, format!("taking the lease of {shard}"))
            .await
    }

    /// Renew this worker's lease of `shard` (counter `counter`): the new counter, or `None`
    /// when the lease was lost.
    pub async fn renew(&self, shard: &str, counter: Option<i64>) -> Result<Option<i64>, String> {
        let mut update = self
            .update(shard)
            .update_expression("ADD leaseCounter :one");
        update = match counter {
            Some(c) => update
                .condition_expression("leaseOwner = :o AND leaseCounter = :c")
                .expression_attribute_values(":c", AttributeValue::N(c.to_string())),
            None => update
                .condition_expression("leaseOwner = :o AND attribute_not_exists(leaseCounter)"),
        };
        self.send(update, format!("renewing the lease of {shard}"))
            .await
    }

    /// Give up this worker's lease of `shard` (a program that stops), so another worker
    /// takes it at once.
    pub async fn release(&self, shard: &str) -> Result<Option<i64>, String> {
        let update = self
            .update(shard)
            .update_expression("REMOVE leaseOwner ADD leaseCounter :one")
            .condition_expression("leaseOwner = :o");
        self.send(update, format!("releasing the lease of {shard}"))
            .await
    }

    /// Record `checkpoint` for `shard` (its parents noted as the KCL does), if this worker
    /// still owns the lease: the new counter, or `None` when the lease was lost.
    pub async fn checkpoint(
        &self,
        shard: &str,
        checkpoint: &str,
        parents: &[String],
    ) -> Result<Option<i64>, String> {
        let mut update = self
            .update(shard)
            .update_expression(if parents.is_empty() {
                "SET checkpoint = :c, ownerSwitchesSinceCheckpoint = :z ADD leaseCounter :one"
            } else {
                "SET checkpoint = :c, ownerSwitchesSinceCheckpoint = :z, parentShardId = :p \
                 ADD leaseCounter :one"
            })
            .condition_expression("leaseOwner = :o")
            .expression_attribute_values(":c", AttributeValue::S(checkpoint.to_string()))
            .expression_attribute_values(":z", AttributeValue::N("0".into()));
        if !parents.is_empty() {
            update = update.expression_attribute_values(":p", AttributeValue::Ss(parents.to_vec()));
        }
        self.send(
            update,
            format!("writing the checkpoint of {shard} to {:?}", self.table),
        )
        .await
    }

    fn update(&self, shard: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("leaseKey", AttributeValue::S(shard.to_string()))
            .expression_attribute_values(":o", AttributeValue::S(self.owner.clone()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::UpdatedNew)
    }

    /// A conditional update: the new `leaseCounter`, `None` when the condition failed.
    async fn send(
        &self,
        update: UpdateItemFluentBuilder,
        doing: String,
    ) -> Result<Option<i64>, String> {
        match update.send().await {
            Ok(out) => Ok(out
                .attributes()
                .and_then(|a| a.get("leaseCounter"))
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(describe(doing, &e).replace("Kinesis: ", "DynamoDB: ")),
        }
    }
}

/// One shard's lease as the table holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lease {
    pub owner: Option<String>,
    pub counter: Option<i64>,
    /// A sequence number, `SHARD_END`, or none yet (the initial position applies).
    pub checkpoint: Option<String>,
    pub parents: Vec<String>,
}
