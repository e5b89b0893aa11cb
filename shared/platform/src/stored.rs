//! Settings kept in AWS Secrets Manager instead of the function's environment.
//!
//! Lambda caps a function's environment at 4 KB, which the payment providers' keys
//! alone exceed, and an environment variable changes only with a deploy.
//! `BIANXIAN_SECRETS_ARN` names one secret whose value is a JSON object of setting
//! names to values, for example `{"ALIPAY_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----…",
//! "DATABASE_URL": "postgres://…"}`. A function reads it once, at cold start, before it
//! reads its configuration; its entries take precedence over the environment's, so a
//! setting can move into the secret without the template changing.

use std::collections::HashMap;

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use serde_json::Value;

use crate::config::Env;

/// The variable naming the secret (its ARN or name).
pub const SECRETS_ARN: &str = "BIANXIAN_SECRETS_ARN";

/// `process` with the stored settings laid over it, or `process` itself when no
/// secret is named. The error names the secret and what is wrong with it, never a
/// value.
pub async fn environment(process: Env) -> Result<Env, String> {
    let Some(arn) = process.get(SECRETS_ARN).filter(|v| !v.trim().is_empty()) else {
        return Ok(process);
    };
    let arn = arn.trim();
    let client = aws_sdk_secretsmanager::Client::new(&crate::aws::sdk_config(&process.aws()).await);
    let answer = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "{SECRETS_ARN}: cannot read {arn}: {}",
                DisplayErrorContext(e)
            )
        })?;
    let text = answer
        .secret_string()
        .ok_or_else(|| format!("{SECRETS_ARN}: {arn} holds binary data, not a JSON object"))?;
    let entries = parse(text).map_err(|why| format!("{SECRETS_ARN}: {arn}: {why}"))?;
    Ok(Env::from_lookup(move |name| {
        entries.get(name).cloned().or_else(|| process.get(name))
    }))
}

/// A JSON object of setting names to strings (numbers and booleans are taken as
/// written). Errors name keys, not values.
fn parse(text: &str) -> Result<HashMap<String, String>, String> {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
        return Err("not a JSON object of setting names to values".into());
    };
    object
        .into_iter()
        .map(|(name, value)| match value {
            Value::String(text) => Ok((name, text)),
            Value::Number(_) | Value::Bool(_) => Ok((name, value.to_string())),
            _ => Err(format!("{name} must be a string")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_object_of_settings_and_never_echoes_a_value() {
        let parsed =
            parse(r#"{"DATABASE_URL":"postgres://u:pw@h/db","DB_POOL_SIZE":2,"X":true}"#).unwrap();
        assert_eq!(parsed["DATABASE_URL"], "postgres://u:pw@h/db");
        assert_eq!(parsed["DB_POOL_SIZE"], "2");
        assert_eq!(parsed["X"], "true");
        let err = parse(r#"{"STRIPE_SECRET_KEY":{"nested":"sk_live_123"}}"#).unwrap_err();
        assert_eq!(err, "STRIPE_SECRET_KEY must be a string");
        let err = parse("sk_live_123").unwrap_err();
        assert!(!err.contains("sk_live_123"), "{err}");
    }

    #[tokio::test]
    async fn without_a_secret_the_environment_is_the_process_one() {
        let env = Env::from_lookup(|name| (name == "A").then(|| "1".to_owned()));
        let env = environment(env).await.unwrap();
        assert_eq!(env.get("A").as_deref(), Some("1"));
    }
}
