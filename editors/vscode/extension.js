// Starts `runbook lsp` for Rhai files: the language server of the runbook binary on PATH (or the
// one the setting runbook.path names).
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const settings = vscode.workspace.getConfiguration("runbook");
  const command = settings.get("path") || "runbook";
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "runbook",
    "runbook",
    { run: server, debug: server },
    {
      documentSelector: [{ scheme: "file", language: "rhai" }, { scheme: "untitled", language: "rhai" }],
      // Live resource ids in completion call AWS: only when the settings say so.
      initializationOptions: {
        live: settings.get("live") === true,
        profile: settings.get("profile") || undefined,
        region: settings.get("region") || undefined,
      },
      synchronize: { configurationSection: "runbook" },
    }
  );
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
