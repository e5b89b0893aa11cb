//! A campaign's cast through the admin API: a double opt-in list with imported,
//! confirmed subscribers, a template, and campaigns made, acted on and read back.

use std::time::Duration;

use identity::access::Role;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::{SentMail, StackOptions, TestStack, call, create, random_suffix, spawn_stack_with};

/// Imports `csv` (`email,name[,attributes]`) into `list` as confirmed subscribers.
pub async fn import_confirmed(stack: &TestStack, admin: &str, list: &str, csv: String) {
    let imported = stack
        .authed(
            Method::POST,
            &format!("/admin/subscribers/import?lists={list}&preconfirm=true"),
            admin,
        )
        .header(header::CONTENT_TYPE, "text/csv")
        .body(csv)
        .send()
        .await
        .expect("import");
    assert_eq!(imported.status(), StatusCode::OK);
}

pub struct Setup {
    pub stack: TestStack,
    pub admin: String,
    pub list: String,
    pub template: String,
    /// The confirmed, enabled, unsuppressed subscribers' addresses.
    pub recipients: Vec<String>,
}

pub async fn setup(recipients: usize, env: Vec<(&'static str, String)>) -> Option<Setup> {
    let stack = spawn_stack_with(StackOptions {
        env,
        ..StackOptions::default()
    })
    .await;
    if stack.aws_endpoint.is_none() {
        eprintln!("skipped: needs moto (TEST_AWS_ENDPOINT_URL)");
        return None;
    }
    let admin = stack.staff_token(Role::Admin).await;
    let body = json!({ "data": { "name": "每周精选", "visibility": "public", "optin": "double" } });
    let list = create(&stack, &admin, "/admin/lists", body).await;
    let suffix = random_suffix();
    let mut csv = String::from("email,name\n");
    let addresses: Vec<String> = (0..recipients)
        .map(|i| format!("r{i}-{suffix}@example.com"))
        .collect();
    for (i, email) in addresses.iter().enumerate() {
        csv.push_str(&format!("{email},读者{i}\n"));
    }
    import_confirmed(&stack, &admin, &list, csv).await;
    let template = json!({ "data": {
        "name": "周报",
        "subject": "{{ subscriber.name }}，本周精选",
        "html": "<p>{{ subscriber.name }}，你好</p><p><a href=\"https://example.com/articles/1?from=mail&amp;n=1\">读全文</a></p>",
        "text": "{{ subscriber.name }}，你好",
    } });
    let template = create(&stack, &admin, "/admin/templates", template).await;
    Some(Setup {
        stack,
        admin,
        list,
        template,
        recipients: addresses,
    })
}

impl Setup {
    pub async fn campaign(&self) -> String {
        let body = json!({ "data": { "name": "第 1 期", "template": self.template, "lists": [self.list] } });
        let (status, campaign) = call(
            &self.stack,
            Method::POST,
            "/admin/campaigns",
            Some(&self.admin),
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{campaign}");
        assert_eq!(campaign["data"]["status"], "draft");
        campaign["data"]["documentId"].as_str().unwrap().to_owned()
    }

    pub async fn act(&self, campaign: &str, action: &str) -> (StatusCode, Value) {
        let path = format!("/admin/campaigns/{campaign}/{action}");
        call(&self.stack, Method::POST, &path, Some(&self.admin), None).await
    }

    pub async fn show(&self, campaign: &str) -> Value {
        let path = format!("/admin/campaigns/{campaign}");
        call(&self.stack, Method::GET, &path, Some(&self.admin), None)
            .await
            .1["data"]
            .clone()
    }

    /// Waits until the campaign has sent `count` (30 s at most); its progress.
    pub async fn sent(&self, campaign: &str, count: i64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let progress = self.show(campaign).await["progress"].clone();
            if progress["sent"] == count || tokio::time::Instant::now() > deadline {
                return progress;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What campaign-send does each minute, now.
    pub async fn minute(&self) -> Value {
        let settings = self.stack.platform.config.section().unwrap();
        let handler = campaign_send::handler(self.stack.platform.clone(), settings).unwrap();
        handler(bianxian_local::queue::scheduled_event())
            .await
            .unwrap()
    }

    pub async fn mail_to(&self, email: &str) -> Vec<SentMail> {
        self.stack.sent_mail(email).await
    }
}
