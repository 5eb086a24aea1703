//! `runbook lsp` driven as an editor drives it: initialize, open and change a runbook, ask for
//! completion, hover, quick fixes and symbols, send garbage, shut down.

use runbook_tests::runbook_bin;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Editor {
    child: Child,
    input: ChildStdin,
    messages: mpsc::Receiver<Value>,
    next: i64,
}

impl Editor {
    fn start() -> Editor {
        Editor::start_with(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:9")])
    }

    fn start_with(env: &[(&str, &str)]) -> Editor {
        let mut child = Command::new(runbook_bin())
            .arg("lsp")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let mut output = BufReader::new(child.stdout.take().unwrap());
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || loop {
            let mut length = None;
            loop {
                let mut line = String::new();
                if output.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some(n) = line.strip_prefix("Content-Length: ") {
                    length = n.parse::<usize>().ok();
                }
            }
            let mut body = vec![0; length.expect("a Content-Length")];
            output.read_exact(&mut body).unwrap();
            if tx.send(serde_json::from_slice(&body).expect("a JSON message")).is_err() {
                return;
            }
        });
        Editor { child, input, messages, next: 0 }
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.input.write_all(bytes).unwrap();
        self.input.flush().unwrap();
    }

    fn send(&mut self, message: Value) {
        let text = message.to_string();
        self.raw(format!("Content-Length: {}\r\n\r\n{text}", text.len()).as_bytes());
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// The next message that `is` picks, passing over others.
    fn wait_for(&mut self, is: impl Fn(&Value) -> bool) -> Value {
        loop {
            let m = self.messages.recv_timeout(Duration::from_secs(30)).expect("an answer from runbook lsp");
            if is(&m) {
                return m;
            }
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        self.wait_for(|m| m["id"] == id)
    }

    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let m = self.wait_for(|m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri);
        m["params"]["diagnostics"].as_array().unwrap().clone()
    }
}

const URI: &str = "file:///tmp/runbook-lsp-test/deploy.rhai";

#[test]
fn an_editor_gets_diagnostics_fixes_completion_hover_and_symbols_and_garbage_does_not_stop_it() {
    let mut editor = Editor::start();
    let early = editor.request("textDocument/hover", json!({}));
    assert_eq!(early["error"]["code"], -32002, "{early}");
    let init = editor.request("initialize", json!({ "capabilities": {}, "processId": null, "rootUri": null }));
    assert_eq!(init["result"]["serverInfo"]["name"], "runbook", "{init}");
    assert_eq!(init["result"]["capabilities"]["hoverProvider"], true, "{init}");
    editor.notify("initialized", json!({}));

    // A runbook with a misspelt operation and a port out of range.
    let text = "let vpc = param(\"vpc\", \"vpc-1\");\nfn name() { \"tg\" }\nlet tg = elbv2::create_target_grup(#{ Name: name(), Protocol: \"HTTP\", Port: 80, VpcId: vpc });\nelbv2::create_target_group(#{ Name: \"b\", Protocol: \"HTTP\", Port: 99999, VpcId: vpc });\n";
    editor.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": URI, "languageId": "rhai", "version": 1, "text": text } }),
    );
    let found = editor.diagnostics(URI);
    assert_eq!(found.len(), 2, "{found:#?}");
    let misspelt = found
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("create_target_grup"))
        .expect("the misspelt call");
    assert_eq!(misspelt["severity"], 1);
    assert_eq!(misspelt["range"]["start"], json!({ "line": 2, "character": 9 }), "{misspelt}");
    assert_eq!(misspelt["range"]["end"], json!({ "line": 2, "character": 34 }), "{misspelt}");
    let port = found.iter().find(|d| d["message"].as_str().unwrap().contains("99999")).expect("the port");
    assert_eq!(port["range"]["start"]["line"], 3, "{port}");

    // The quick fix the note offers.
    let actions = editor.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": URI }, "range": misspelt["range"], "context": { "diagnostics": [misspelt] } }),
    );
    let action = &actions["result"][0];
    assert_eq!(action["title"], "Change to elbv2::create_target_group", "{actions}");
    assert_eq!(action["edit"]["changes"][URI][0]["newText"], "elbv2::create_target_group");
    assert_eq!(action["edit"]["changes"][URI][0]["range"], misspelt["range"]);

    // Fixed: no diagnostic about it any more.
    let fixed = text.replace("create_target_grup", "create_target_group").replace("99999", "8080");
    editor.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 2 }, "contentChanges": [{ "text": fixed }] }),
    );
    assert_eq!(editor.diagnostics(URI), Vec::<Value>::new());

    // Completion of an operation's members, required first, on a line of its own in the map.
    let typing = format!("{fixed}elbv2::create_target_group(#{{\n    Name: \"c\",\n    Health");
    editor.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 3 }, "contentChanges": [{ "text": typing }] }),
    );
    let _ = editor.diagnostics(URI);
    let items = editor.request(
        "textDocument/completion",
        json!({ "textDocument": { "uri": URI }, "position": { "line": 6, "character": 10 } }),
    );
    let labels: Vec<&str> =
        items["result"]["items"].as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert!(labels.contains(&"HealthCheckPath") && labels.contains(&"HealthCheckEnabled"), "{labels:?}");
    let interval = items["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "HealthCheckIntervalSeconds")
        .unwrap();
    assert_eq!(interval["detail"], "integer (optional), 5 to 300", "{interval}");
    assert!(labels.iter().all(|l| l.starts_with("Health")), "{labels:?}");
    // At `elbv2` typed at the start of a line: the module.
    let modules = editor.request(
        "textDocument/completion",
        json!({ "textDocument": { "uri": URI }, "position": { "line": 4, "character": 5 } }),
    );
    let labels: Vec<&str> =
        modules["result"]["items"].as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["elbv2::"]);

    // Hover: the operation's help, as `runbook help` prints it.
    let hover = editor.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": URI }, "position": { "line": 2, "character": 20 } }),
    );
    let shown = hover["result"]["contents"]["value"].as_str().unwrap_or_default().to_string();
    let help = std::process::Command::new(runbook_bin()).args(["help", "elbv2::create_target_group"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(shown.contains(help.lines().next().unwrap()), "{shown}");
    assert!(shown.contains("HealthCheckPath"), "{shown}");

    // Symbols: the function, the parameter read, the writes.
    let symbols = editor.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": URI } }));
    let names: Vec<(String, String)> = symbols["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["detail"].as_str().unwrap_or("").to_string()))
        .collect();
    assert!(names.contains(&("vpc".into(), "param()".into())), "{names:?}");
    assert!(names.contains(&("name".into(), "fn, 0 parameter(s)".into())), "{names:?}");
    assert_eq!(names.iter().filter(|(_, d)| d == "write").count(), 3, "{names:?}");

    // An input's problems, each on the key or value it is about, with the fix it offers; a
    // parameter read two ways, as typed and not yet saved.
    let wrong = "fn helper() { 1 }\nlet a = param(\"size\", 1);\nlet b = param(\"size\", \"big\");\nelbv2::create_target_group(#{ Name: \"t\", Protocol: \"HTTP\", Port: \"80\", VpcID: \"v\" });\n// hel\nhel";
    editor.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 4 }, "contentChanges": [{ "text": wrong }] }),
    );
    let found = editor.diagnostics(URI);
    let on = |text: &str| {
        found
            .iter()
            .find(|d| d["message"].as_str().unwrap().contains(text))
            .unwrap_or_else(|| panic!("{text}: {found:#?}"))
            .clone()
    };
    let key = on("unknown key VpcID");
    assert_eq!(
        (key["range"]["start"]["character"].as_u64(), key["range"]["end"]["character"].as_u64()),
        (Some(71), Some(76)),
        "{key}"
    );
    assert_eq!(key["data"]["replace"], json!(["VpcId"]), "{key}");
    let port = on("Port: expected integer");
    assert_eq!(
        (port["range"]["start"]["character"].as_u64(), port["range"]["end"]["character"].as_u64()),
        (Some(65), Some(69)),
        "{port}"
    );
    on("param \"size\" is read as");
    // Completion: the script's functions; nothing in a comment or after a dot.
    let complete = |editor: &mut Editor, line: u32, character: u32| -> Vec<String> {
        let answer = editor.request(
            "textDocument/completion",
            json!({ "textDocument": { "uri": URI }, "position": { "line": line, "character": character } }),
        );
        answer["result"]["items"].as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(complete(&mut editor, 5, 3), ["help", "helper"]);
    assert_eq!(complete(&mut editor, 4, 6), Vec::<String>::new());

    // Garbage: a frame that is not JSON, a header without a length. The server answers in the
    // protocol's own form and goes on.
    editor.raw(b"Content-Length: 9\r\n\r\nnot json!");
    let parse = editor.wait_for(|m| m["error"]["code"] == -32700);
    assert!(parse["id"].is_null(), "{parse}");
    editor.raw(b"nonsense\r\n");
    let unknown = editor.request("textDocument/noSuchThing", json!({}));
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    let wrong = editor.request("textDocument/hover", json!({ "textDocument": 7 }));
    assert_eq!(wrong["error"]["code"], -32602, "{wrong}");
    // A huge file is checked like any other.
    let huge = format!("{fixed}{}", "elbv2::describe_target_groups(#{ Names: [\"x\"] });\n".repeat(5_000));
    editor.notify("textDocument/didOpen", json!({ "textDocument": { "uri": "file:///tmp/runbook-lsp-test/huge.rhai", "languageId": "rhai", "version": 1, "text": huge } }));
    assert_eq!(editor.diagnostics("file:///tmp/runbook-lsp-test/huge.rhai"), Vec::<Value>::new());

    let down = editor.request("shutdown", Value::Null);
    assert!(down["result"].is_null() && down.get("error").is_none(), "{down}");
    let late = editor.request("textDocument/hover", json!({}));
    assert_eq!(late["error"]["code"], -32600, "after shutdown only exit is taken: {late}");
    editor.notify("exit", Value::Null);
    let status = editor.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// Neovim (Debian's package), headless, configured with the file the README gives: it opens a
/// runbook with a mistake and shows the diagnostic, completes a member and hovers an operation.
#[test]
fn neovim_configured_as_the_readme_says_shows_a_mistake_completes_a_member_and_hovers_an_operation() {
    let nvim = std::path::Path::new("/usr/bin/nvim");
    assert!(nvim.exists(), "Neovim is not installed: make test installs it (make editors)");
    let readme = std::fs::read_to_string(runbook_tests::root().join("README.md")).unwrap();
    assert!(readme.contains("editors/neovim/runbook.lua"), "the README gives the Neovim set-up");
    let dir = runbook_tests::script("nvim/deploy.rhai", "").parent().unwrap().to_path_buf();
    let file = dir.join("deploy.rhai");
    std::fs::write(
        &file,
        "let tg = elbv2::create_target_group(#{ Name: \"tg\", Protocol: \"HTTP\", Port: 99999, VpcId: \"vpc-1\" });\nelbv2::create_target_group(#{ Health: \"/\" });\n",
    )
    .unwrap();
    let out = dir.join("nvim.json");
    let bin = runbook_bin().parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let root = runbook_tests::root();
    let status = Command::new(nvim)
        .current_dir(&dir)
        .args(["--headless", "-n", "-i", "NONE", "-u"])
        .arg(root.join("editors/neovim/runbook.lua"))
        .arg(&file)
        .arg("-c")
        .arg(format!("luafile {}", root.join("tests/editors/nvim_check.lua").display()))
        .env("PATH", path)
        .envs([("HOME", dir.clone()), ("RUNBOOK_NVIM_OUT", out.clone())])
        .envs(["config", "data", "state"].map(|d| (format!("XDG_{}_HOME", d.to_uppercase()), dir.join(d))))
        // Where to ask for a completion (after `#{ Health`) and a hover (on the operation).
        .envs([("RUNBOOK_NVIM_COMPLETE_LINE", "1"), ("RUNBOOK_NVIM_COMPLETE_CHARACTER", "36")])
        .envs([("RUNBOOK_NVIM_HOVER_LINE", "0"), ("RUNBOOK_NVIM_HOVER_CHARACTER", "20")])
        .output()
        .unwrap()
        .status;
    assert!(status.success(), "nvim: {status}");
    let got: Value = serde_json::from_str(&std::fs::read_to_string(&out).expect("nvim wrote its findings")).unwrap();
    assert_eq!(got["filetype"], "rhai", "{got}");
    let diagnostics = got["diagnostics"].as_array().unwrap();
    assert!(diagnostics.iter().any(|d| d["line"] == 0 && d["message"].as_str().unwrap().contains("99999")), "{got}");
    let completion: Vec<&str> = got["completion"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(completion.contains(&"HealthCheckPath"), "{got}");
    assert!(got["hover"].as_str().unwrap().contains("HealthCheckPath"), "{got}");
}

#[test]
fn an_editor_is_taken_to_definitions_and_shown_signatures_members_parameters_and_the_aws_cli_as_rhai() {
    let lib = runbook_tests::script("project/lib/names.rhai", "// Names.\nfn tg_name(app) {\n    app + \"-tg\"\n}\n");
    let project = lib.parent().unwrap().parent().unwrap().to_path_buf();
    std::fs::write(project.join("runbook.toml"), "").unwrap();
    std::fs::write(project.join("lib/latin.rhai"), b"fn caf\xe9() { 1 }\n").unwrap();
    let file = project.join("deploy.rhai");
    let uri = format!("file://{}", file.display());
    let text = [
        "import \"lib/names\" as names;",
        "import \"lib/latin\" as latin;",
        "let app = param(\"app\", \"web\");",
        "fn port() { 80 }",
        "let tg = elbv2::create_target_group(#{ Name: names::tg_name(app), Port: port(), Protocol: \"HT",
        "aws elbv2 describe-target-groups --names web-tg",
        "let vpc = param(\"",
        "latin::x();",
        "",
    ]
    .join("\n");
    let mut editor = Editor::start();
    editor.request("initialize", json!({ "capabilities": {} }));
    editor.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "rhai", "version": 1, "text": text } }),
    );
    let _ = editor.diagnostics(&uri);
    let at = |line: u32, character: u32| json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } });
    let target = |answer: &Value| -> (String, u64) {
        let location = if answer["result"].is_array() { &answer["result"][0] } else { &answer["result"] };
        let uri = location["uri"].as_str().unwrap_or_else(|| panic!("a location: {answer}"));
        (uri.rsplit('/').next().unwrap().to_string(), location["range"]["start"]["line"].as_u64().unwrap())
    };

    // Definitions: the module's file, a function of it, a function of the script, a parameter.
    assert_eq!(target(&editor.request("textDocument/definition", at(0, 10))), ("names.rhai".into(), 0));
    assert_eq!(target(&editor.request("textDocument/definition", at(4, 55))), ("names.rhai".into(), 1));
    let port = editor.request("textDocument/definition", at(4, 73));
    assert_eq!(target(&port), ("deploy.rhai".into(), 3));
    assert_eq!(
        port["result"]["range"],
        json!({ "start": { "line": 3, "character": 3 }, "end": { "line": 3, "character": 7 } }),
        "the name"
    );
    assert_eq!(target(&editor.request("textDocument/definition", at(2, 18))), ("deploy.rhai".into(), 2));
    // A module that is not UTF-8 text: its file, from the top, and the server goes on.
    assert_eq!(target(&editor.request("textDocument/definition", at(7, 8))), ("latin.rhai".into(), 0));

    // Signature help: the operation's members, the one being given active.
    let sig = editor.request("textDocument/signatureHelp", at(4, 93));
    let signature = &sig["result"]["signatures"][0];
    assert!(signature["label"].as_str().unwrap().starts_with("elbv2::create_target_group(#{ Name, "), "{sig}");
    let active = sig["result"]["activeParameter"].as_u64().unwrap() as usize;
    let [from, to] = [0, 1].map(|i| signature["parameters"][active]["label"][i].as_u64().unwrap() as usize);
    assert_eq!(&signature["label"].as_str().unwrap()[from..to], "Protocol?", "{sig}");
    // At the start of a key (or just after the comma before it): that key.
    for column in [66, 65, 68] {
        let sig = editor.request("textDocument/signatureHelp", at(4, column));
        let signature = &sig["result"]["signatures"][0];
        let active = sig["result"]["activeParameter"].as_u64().unwrap_or_else(|| panic!("{column}: {sig}")) as usize;
        let [from, to] = [0, 1].map(|i| signature["parameters"][active]["label"][i].as_u64().unwrap() as usize);
        assert_eq!(&signature["label"].as_str().unwrap()[from..to], "Port?", "{column}: {sig}");
    }

    // Completion of an enum's values, and of the parameter names the project reads.
    let values = editor.request("textDocument/completion", at(4, 93));
    let values: Vec<&str> =
        values["result"]["items"].as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert_eq!(values, ["HTTP", "HTTPS"]);
    let names = editor.request("textDocument/completion", at(6, 17));
    let names: Vec<&str> = names["result"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{names}"))
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app"]);

    // Hover: a member's type, a parameter's default and where it is read.
    let member = editor.request("textDocument/hover", at(4, 67));
    assert!(
        member["result"]["contents"]["value"].as_str().unwrap().contains("Port: integer (optional), 1 to 65535"),
        "{member}"
    );
    let imported = editor.request("textDocument/hover", at(4, 55));
    assert!(
        imported["result"]["contents"]["value"].as_str().unwrap().contains("// Names.\nfn tg_name(app)"),
        "{imported}"
    );
    let param = editor.request("textDocument/hover", at(2, 18));
    let shown = param["result"]["contents"]["value"].as_str().unwrap();
    assert!(shown.contains("parameter `app`") && shown.contains("deploy.rhai:3: default `\"web\"`"), "{shown}");

    // An aws command pasted in: converted as `runbook import` converts it.
    let range = json!({ "start": { "line": 5, "character": 0 }, "end": { "line": 5, "character": 10 } });
    let actions = editor.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri }, "range": range, "context": { "diagnostics": [] } }),
    );
    let convert = actions["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Convert aws CLI command to Rhai")
        .expect("the conversion");
    let rhai = convert["edit"]["changes"][uri.as_str()][0]["newText"].as_str().unwrap();
    let imported = std::process::Command::new(runbook_bin())
        .args(["aws", "--to", "rhai", "elbv2", "describe-target-groups", "--names", "web-tg"])
        .output()
        .unwrap();
    let imported = String::from_utf8_lossy(&imported.stdout);
    assert!(rhai.contains(imported.trim()), "{rhai}\nvs\n{imported}");
    let refused = editor.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri }, "range": { "start": { "line": 5, "character": 0 }, "end": { "line": 5, "character": 0 } },
                "context": { "diagnostics": [] } }),
    );
    assert!(refused["result"][0]["disabled"].is_null(), "{refused}");
    editor.request("shutdown", Value::Null);
    editor.notify("exit", Value::Null);
    assert_eq!(editor.child.wait().unwrap().code(), Some(0));
}

/// Live ids in completion, read from the account as the REPL reads them, only once the editor's
/// settings turn it on.
#[test]
fn live_resource_ids_complete_only_when_the_settings_turn_them_on() {
    let emu = runbook_tests::Emulator::start();
    emu.runbook().runbook("runbooks/create_tg.rhai", &[]).output().success();
    let arn = emu.clients().target_group("rent-a-room-tg").target_group_arn().unwrap().to_string();
    let mut env: Vec<(&str, &str)> = runbook_tests::AWS_ENV.to_vec();
    env.push(("AWS_ENDPOINT_URL", emu.url.as_str()));
    let text = "elbv2::describe_target_health(#{ TargetGroupArn: \"";
    let uri = "file:///tmp/runbook-lsp-live/health.rhai";
    let offered = |live: Option<bool>| {
        let mut editor = Editor::start_with(&env);
        let options = live.map(|l| json!({ "live": l })).unwrap_or(Value::Null);
        editor.request("initialize", json!({ "capabilities": {}, "initializationOptions": options }));
        editor.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "rhai", "version": 1, "text": text } }),
        );
        let _ = editor.diagnostics(uri);
        let answer = editor.request(
            "textDocument/completion",
            json!({ "textDocument": { "uri": uri }, "position": { "line": 0, "character": text.len() } }),
        );
        let items = answer["result"]["items"].as_array().cloned().unwrap_or_default();
        editor.request("shutdown", Value::Null);
        editor.notify("exit", Value::Null);
        items
    };
    let live = offered(Some(true));
    assert!(live.iter().any(|i| i["label"] == arn.as_str() && i["detail"] == "rent-a-room-tg"), "{live:?}");
    assert!(offered(None).iter().all(|i| i["label"] != arn.as_str()), "nothing is read from AWS unless asked");
}
