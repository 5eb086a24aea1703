-- Run by the editor test in a headless Neovim configured with editors/neovim/runbook.lua: waits
-- for runbook lsp's diagnostics on the open buffer, asks for a completion and a hover through the
-- client, and writes what it got as JSON to $RUNBOOK_NVIM_OUT.
local out = {}
local buf = vim.api.nvim_get_current_buf()
out.filetype = vim.bo[buf].filetype
vim.wait(20000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
out.diagnostics = {}
for _, d in ipairs(vim.diagnostic.get(buf)) do
  table.insert(out.diagnostics, { line = d.lnum, col = d.col, end_col = d.end_col, message = d.message, severity = d.severity })
end
local function ask(method, line, character)
  local params = { textDocument = { uri = vim.uri_from_bufnr(buf) }, position = { line = line, character = character } }
  local answers = vim.lsp.buf_request_sync(buf, method, params, 10000) or {}
  for _, a in pairs(answers) do
    if a.result then return a.result end
  end
  return vim.NIL
end
local line = tonumber(vim.env.RUNBOOK_NVIM_COMPLETE_LINE)
local character = tonumber(vim.env.RUNBOOK_NVIM_COMPLETE_CHARACTER)
local completion = ask("textDocument/completion", line, character)
out.completion = {}
for _, item in ipairs(completion.items or completion or {}) do
  table.insert(out.completion, item.label)
end
local hover = ask("textDocument/hover", tonumber(vim.env.RUNBOOK_NVIM_HOVER_LINE), tonumber(vim.env.RUNBOOK_NVIM_HOVER_CHARACTER))
out.hover = hover ~= vim.NIL and hover.contents.value or ""
local f = io.open(vim.env.RUNBOOK_NVIM_OUT, "w")
f:write(vim.fn.json_encode(out))
f:close()
vim.cmd("qa!")
