//! Stripe: its API as a [`Provider`] (PaymentIntents for the Payment Element,
//! hosted Checkout Sessions, refunds; form-encoded, every write with an
//! `Idempotency-Key`), what subscriptions need (customers, plans, subscriptions)
//! and its [`webhook`]. `STRIPE_API_BASE` points it at
//! localstripe locally.

pub mod webhook;

use std::time::Duration;
use tracing::Instrument;

use platform::{
    config::{Section, Vars},
    error::{Error, Result},
    secret::Secret,
};
use serde_json::Value;
use url::Url;

pub use webhook::{MAX_EVENT_BYTES, SIGNATURE_HEADER, handle};

use crate::{
    money::{Amount, Currency},
    provider::{
        Method, Payment, PaymentRequest, Provider, RefundRequest, RefundState, Remote, Started,
    },
};

const DEFAULT_API_BASE: &str = "https://api.stripe.com/";

/// The Stripe channel's settings: checkout needs the secret key, the webhook its
/// secrets; either part is off without its settings.
#[derive(Debug, Clone, Default)]
pub struct StripeConfig {
    /// `STRIPE_SECRET_KEY` (`sk_…`, or a restricted `rk_…`).
    pub secret_key: Option<Secret>,
    /// `STRIPE_API_BASE`: Stripe's API, or localstripe.
    pub api_base: Option<Url>,
    /// `STRIPE_WEBHOOK_SECRETS`: comma-separated `whsec_…` endpoint secrets; any of
    /// them verifies, so a new one can be added before the old one is rolled.
    pub webhook_secrets: Vec<Secret>,
}

impl Section for StripeConfig {
    fn read(vars: &mut Vars<'_>) -> Self {
        let webhook_secrets = vars
            .optional("STRIPE_WEBHOOK_SECRETS")
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Secret::new(s.to_owned()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if webhook_secrets
            .iter()
            .any(|s| !s.expose().starts_with("whsec_"))
        {
            vars.problem(
                "STRIPE_WEBHOOK_SECRETS",
                "must be comma-separated `whsec_…` secrets",
            );
        }
        let secret_key = vars.secret("STRIPE_SECRET_KEY", 8);
        if secret_key
            .as_ref()
            .is_some_and(|k| !(k.expose().starts_with("sk_") || k.expose().starts_with("rk_")))
        {
            vars.problem("STRIPE_SECRET_KEY", "must be a `sk_…` or `rk_…` key");
        }
        let api_base = vars.base_url("STRIPE_API_BASE");
        Self {
            secret_key,
            api_base,
            webhook_secrets,
        }
    }
}

impl StripeConfig {
    /// The API client, when checkout through Stripe is on.
    pub fn client(&self) -> Result<Option<Stripe>> {
        let Some(key) = &self.secret_key else {
            return Ok(None);
        };
        let base = match &self.api_base {
            Some(base) => base.clone(),
            None => Url::parse(DEFAULT_API_BASE).map_err(Error::internal)?,
        };
        platform::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(Error::internal)?;
        Ok(Some(Stripe {
            http,
            base,
            key: key.clone(),
        }))
    }
}

/// Stripe's API.
#[derive(Debug, Clone)]
pub struct Stripe {
    http: reqwest::Client,
    base: Url,
    key: Secret,
}

impl Stripe {
    fn url(&self, path: &str) -> Result<Url> {
        self.base.join(path).map_err(Error::internal)
    }

    /// A form-encoded POST; `idempotency_key` makes a retried call return the first
    /// call's answer instead of acting twice.
    async fn post(
        &self,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: &str,
    ) -> Result<Value> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let url = self.url(path)?;
        let span = platform::telemetry::http_span(
            "POST",
            url.as_str(),
            platform::telemetry::UrlDetail::Path,
        );
        let request = self
            .http
            .post(url)
            .bearer_auth(self.key.expose())
            .header("Idempotency-Key", idempotency_key)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        answer(request.send().instrument(span).await).await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        let request = self
            .http
            .get(self.url(path)?)
            .bearer_auth(self.key.expose());
        answer(request.send().await).await
    }

    async fn payment_intent(&self, request: &PaymentRequest<'_>) -> Result<Started> {
        let intent = self
            .post(
                "v1/payment_intents",
                &[
                    ("amount", request.amount.minor().to_string()),
                    ("currency", request.currency.as_str().to_ascii_lowercase()),
                    ("metadata[order]", request.order.to_owned()),
                ],
                &format!("checkout-{}", request.order),
            )
            .await?;
        let id = text(&intent, "id")?;
        Ok(Started {
            payment: Payment::PaymentIntent {
                payment_intent: id.clone(),
                client_secret: text(&intent, "client_secret")?,
            },
            provider_ref: Some(id),
        })
    }

    async fn checkout_session(&self, request: &PaymentRequest<'_>) -> Result<Started> {
        // Stripe takes an expiry between 30 minutes and 24 hours away.
        let expires_at = request
            .expires_at
            .max(chrono::Utc::now() + chrono::Duration::minutes(31));
        let session = self
            .post(
                "v1/checkout/sessions",
                &[
                    ("mode", "payment".to_owned()),
                    ("line_items[0][quantity]", "1".to_owned()),
                    (
                        "line_items[0][price_data][currency]",
                        request.currency.as_str().to_ascii_lowercase(),
                    ),
                    (
                        "line_items[0][price_data][unit_amount]",
                        request.amount.minor().to_string(),
                    ),
                    (
                        "line_items[0][price_data][product_data][name]",
                        request.description.to_owned(),
                    ),
                    ("client_reference_id", request.order.to_owned()),
                    ("metadata[order]", request.order.to_owned()),
                    (
                        "payment_intent_data[metadata][order]",
                        request.order.to_owned(),
                    ),
                    ("success_url", request.return_url.to_string()),
                    ("cancel_url", request.return_url.to_string()),
                    ("expires_at", expires_at.timestamp().to_string()),
                ],
                &format!("checkout-{}", request.order),
            )
            .await?;
        Ok(Started {
            payment: Payment::CheckoutSession {
                url: text(&session, "url")?,
            },
            provider_ref: Some(text(&session, "id")?),
        })
    }
}

impl Provider for Stripe {
    async fn start(&self, request: &PaymentRequest<'_>, method: Method) -> Result<Started> {
        match method {
            Method::PaymentIntent => self.payment_intent(request).await,
            Method::CheckoutSession => self.checkout_session(request).await,
            other => Err(Error::invalid(
                "method",
                format!("Stripe does not offer `{}`", other.as_str()),
            )),
        }
    }

    async fn query(&self, _order: &str, provider_ref: Option<&str>) -> Result<Remote> {
        let Some(id) = provider_ref else {
            return Ok(Remote::Closed);
        };
        if id.starts_with("cs_") {
            let session = self.get(&format!("v1/checkout/sessions/{id}")).await?;
            return Ok(
                match (
                    session["payment_status"].as_str(),
                    session["status"].as_str(),
                ) {
                    (Some("paid"), _) => paid(&session, "amount_total", id)?,
                    (_, Some("expired")) => Remote::Closed,
                    _ => Remote::Pending,
                },
            );
        }
        let intent = self.get(&format!("v1/payment_intents/{id}")).await?;
        Ok(match intent["status"].as_str() {
            Some("succeeded") => paid(&intent, "amount_received", id)?,
            Some("canceled") => Remote::Closed,
            _ => Remote::Pending,
        })
    }

    async fn close(&self, order: &str, provider_ref: Option<&str>) -> Result<()> {
        let Some(id) = provider_ref else {
            return Ok(());
        };
        let path = if id.starts_with("cs_") {
            format!("v1/checkout/sessions/{id}/expire")
        } else {
            format!("v1/payment_intents/{id}/cancel")
        };
        self.post(&path, &[], &format!("close-{order}")).await?;
        Ok(())
    }

    async fn refund(&self, refund: &RefundRequest<'_>) -> Result<RefundState> {
        let answer = self
            .post(
                "v1/refunds",
                &[
                    ("payment_intent", refund.provider_ref.to_owned()),
                    ("amount", refund.amount.minor().to_string()),
                    ("metadata[order]", refund.order.to_owned()),
                    ("metadata[refund]", refund.request_id.to_owned()),
                ],
                &format!("refund-{}", refund.request_id),
            )
            .await?;
        let provider_ref = text(&answer, "id")?;
        Ok(match answer["status"].as_str() {
            Some("succeeded") => RefundState::Succeeded { provider_ref },
            Some("failed" | "canceled") => RefundState::Failed {
                reason: answer["failure_reason"]
                    .as_str()
                    .unwrap_or("refused")
                    .to_owned(),
            },
            _ => RefundState::Processing { provider_ref },
        })
    }
}

/// A paid object's payment: the PaymentIntent it names (a Checkout Session's) or
/// its own id, with the amount under `amount_field`.
fn paid(object: &Value, amount_field: &str, id: &str) -> Result<Remote> {
    let currency = object["currency"]
        .as_str()
        .and_then(|c| Currency::parse(&c.to_ascii_uppercase()).ok())
        .ok_or_else(|| unexpected("a payment in an unknown currency"))?;
    let amount = received(object, amount_field)
        .as_i64()
        .and_then(|a| Amount::new(a).ok())
        .ok_or_else(|| unexpected("a payment without its amount"))?;
    Ok(Remote::Paid {
        provider_ref: object["payment_intent"].as_str().unwrap_or(id).to_owned(),
        currency,
        amount,
    })
}

/// What a paid object says was received. A succeeded PaymentIntent from Stripe
/// always carries `amount_received`; localstripe's carry only `amount`, which is the
/// same for a payment captured whole.
fn received<'a>(object: &'a Value, amount_field: &str) -> &'a Value {
    match &object[amount_field] {
        Value::Null if amount_field == "amount_received" && object["status"] == "succeeded" => {
            &object["amount"]
        }
        amount => amount,
    }
}

fn text(object: &Value, field: &str) -> Result<String> {
    object[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| unexpected("an answer without the field we need"))
}

fn unexpected(what: &str) -> Error {
    tracing::error!(what, "unexpected answer from Stripe");
    Error::ServiceUnavailable("Stripe gave an unexpected answer; try again".into())
}

/// Stripe's answer: its JSON on success; a 4xx is Stripe refusing what we asked
/// (its message, for the caller), anything else is Stripe being unavailable.
async fn answer(response: reqwest::Result<reqwest::Response>) -> Result<Value> {
    let response = response.map_err(|err| {
        tracing::warn!(error = %err, "Stripe unreachable");
        Error::ServiceUnavailable("Stripe is unavailable; try again".into())
    })?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|_| unexpected("a body that is not JSON"))?;
    if status.is_success() {
        return Ok(body);
    }
    if status == 404 {
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("no such object");
        return Err(Error::NotFound(format!("Stripe: {message}")));
    }
    // 401 and 403 are our key being wrong: not the caller's to fix.
    if status.is_client_error() && status != 401 && status != 403 {
        let message = body["error"]["message"].as_str().unwrap_or("refused");
        tracing::warn!(%status, message, "Stripe refused a request");
        return Err(Error::invalid("payment", format!("Stripe: {message}")));
    }
    tracing::warn!(%status, "Stripe failed");
    Err(Error::ServiceUnavailable(
        "Stripe is unavailable; try again".into(),
    ))
}

/// What Stripe says of a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeSubscription {
    pub id: String,
    pub status: String,
    pub cancel_at_period_end: bool,
    pub current_period_end: Option<chrono::DateTime<chrono::Utc>>,
    /// The first invoice's PaymentIntent secret, while the payer still has to act
    /// (3-D Secure); the frontend confirms it with Stripe.js.
    pub client_secret: Option<String>,
}

impl StripeSubscription {
    /// A subscription object (with `latest_invoice.payment_intent` expanded or not).
    pub fn from_object(object: &Value) -> Option<Self> {
        let intent = &object["latest_invoice"]["payment_intent"];
        let client_secret = match intent["status"].as_str() {
            Some("requires_action" | "requires_payment_method" | "requires_confirmation") => {
                intent["client_secret"].as_str().map(str::to_owned)
            }
            _ => None,
        };
        Some(Self {
            id: object["id"].as_str()?.to_owned(),
            status: object["status"].as_str()?.to_owned(),
            cancel_at_period_end: object["cancel_at_period_end"].as_bool().unwrap_or(false),
            current_period_end: object["current_period_end"]
                .as_i64()
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
            client_secret,
        })
    }
}

impl Stripe {
    /// A new customer for our member (by their documentId; Stripe's idempotency
    /// makes a retry return the same one).
    pub async fn customer(&self, member: &str) -> Result<String> {
        let customer = self
            .post(
                "v1/customers",
                &[("metadata[member]", member.to_owned())],
                &format!("customer-{member}"),
            )
            .await?;
        text(&customer, "id")
    }

    /// Makes the card the payer gave (a PaymentMethod from Stripe.js) the customer's
    /// default for invoices.
    pub async fn use_card(&self, customer: &str, payment_method: &str) -> Result<()> {
        self.post(
            &format!("v1/payment_methods/{payment_method}/attach"),
            &[("customer", customer.to_owned())],
            &format!("attach-{payment_method}-{customer}"),
        )
        .await?;
        self.post(
            &format!("v1/customers/{customer}"),
            &[(
                "invoice_settings[default_payment_method]",
                payment_method.to_owned(),
            )],
            &format!("default-{payment_method}-{customer}"),
        )
        .await?;
        Ok(())
    }

    /// The plan Stripe bills our price by, made the first time it is needed; named by
    /// the price's documentId, which never changes what it charges.
    pub async fn plan(
        &self,
        price: &str,
        currency: Currency,
        amount: Amount,
        period: &str,
        name: &str,
    ) -> Result<String> {
        let id = format!("bx-{price}");
        match self.get(&format!("v1/plans/{id}")).await {
            Ok(plan) => return text(&plan, "id"),
            Err(Error::NotFound(_)) => {}
            Err(err) => return Err(err),
        }
        let plan = self
            .post(
                "v1/plans",
                &[
                    ("id", id.clone()),
                    ("amount", amount.minor().to_string()),
                    ("currency", currency.as_str().to_ascii_lowercase()),
                    ("interval", period.to_owned()),
                    ("product[name]", name.to_owned()),
                ],
                &format!("plan-{id}"),
            )
            .await?;
        text(&plan, "id")
    }

    /// Subscribes the customer to the plan for `order`, collecting the first invoice
    /// with the customer's default card at once.
    pub async fn subscribe(
        &self,
        customer: &str,
        plan: &str,
        order: &str,
    ) -> Result<StripeSubscription> {
        let subscription = self
            .post(
                "v1/subscriptions",
                &[
                    ("customer", customer.to_owned()),
                    ("items[0][plan]", plan.to_owned()),
                    ("metadata[order]", order.to_owned()),
                    ("expand[]", "latest_invoice.payment_intent".to_owned()),
                ],
                &format!("checkout-{order}"),
            )
            .await?;
        StripeSubscription::from_object(&subscription)
            .ok_or_else(|| unexpected("a subscription without its id or status"))
    }

    /// Cancels at the end of the period already paid.
    pub async fn cancel_at_period_end(&self, subscription: &str) -> Result<StripeSubscription> {
        let updated = self
            .post(
                &format!("v1/subscriptions/{subscription}"),
                &[("cancel_at_period_end", "true".to_owned())],
                &format!("cancel-{subscription}"),
            )
            .await?;
        StripeSubscription::from_object(&updated)
            .ok_or_else(|| unexpected("a subscription without its id or status"))
    }
}
