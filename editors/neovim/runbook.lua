-- runbook's language server for Neovim (0.7 and later): put this file where Neovim reads Lua at
-- start (for example ~/.config/nvim/plugin/runbook.lua), with `runbook` on PATH. Every *.rhai
-- buffer gets the filetype rhai and one shared `runbook lsp` client: check's diagnostics as you
-- type, completion (<C-x><C-o>), hover (K), quick fixes and symbols.
local client_id = nil

vim.api.nvim_create_autocmd({ "BufRead", "BufNewFile" }, {
  pattern = "*.rhai",
  callback = function(args)
    vim.bo[args.buf].filetype = "rhai"
    if client_id == nil or vim.lsp.get_client_by_id(client_id) == nil then
      client_id = vim.lsp.start_client({
        name = "runbook",
        cmd = { "runbook", "lsp" },
        root_dir = vim.fn.getcwd(),
      })
    end
    if client_id then
      vim.lsp.buf_attach_client(args.buf, client_id)
      vim.bo[args.buf].omnifunc = "v:lua.vim.lsp.omnifunc"
      vim.keymap.set("n", "K", vim.lsp.buf.hover, { buffer = args.buf })
    end
  end,
})
