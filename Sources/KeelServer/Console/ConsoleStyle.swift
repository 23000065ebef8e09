extension Console {
    /// `/ui/style.css`.
    static let style = #"""
        :root { --ink: #1d2330; --muted: #667085; --line: #e4e7ec; --bg: #f7f8fa; --accent: #2f5bea; --bad: #c0362c;
                --ok: #1f7a4d; --warn: #a15c00; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
        * { box-sizing: border-box; }
        body { margin: 0; color: var(--ink); background: var(--bg); font-size: 14px; }
        header { display: flex; align-items: center; gap: 24px; padding: 0 24px; height: 52px; background: #111827; }
        header .brand { color: #fff; font-weight: 700; font-size: 17px; letter-spacing: .5px; }
        header nav a { color: #cbd5e1; text-decoration: none; margin-right: 16px; padding: 16px 0; }
        header nav a.current { color: #fff; border-bottom: 2px solid #7aa2ff; }
        main { padding: 20px 24px; max-width: 1400px; }
        h1 { font-size: 20px; margin: 4px 0 16px; }
        h2 { font-size: 15px; margin: 24px 0 8px; color: #344054; }
        table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
        th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: #f2f4f7; font-weight: 600; font-size: 12px; text-transform: uppercase; color: #475467; }
        td.mono, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; word-break: break-all; }
        a { color: var(--accent); }
        form.bar { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin-bottom: 14px; }
        label { display: flex; flex-direction: column; gap: 3px; font-size: 12px; color: var(--muted); }
        input, select, textarea { font: inherit; padding: 6px 8px; border: 1px solid #d0d5dd; border-radius: 6px; background: #fff; }
        textarea { width: 100%; min-height: 110px; font-family: ui-monospace, Menlo, monospace; font-size: 13px; }
        button { font: inherit; padding: 6px 12px; border-radius: 6px; border: 1px solid #d0d5dd; background: #fff; cursor: pointer; }
        button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
        button.danger { color: var(--bad); }
        button:disabled { opacity: .4; cursor: default; }
        td.actions { white-space: nowrap; }
        td.actions button { padding: 3px 8px; font-size: 12px; margin-right: 4px; }
        .badge { display: inline-block; padding: 2px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #eef2ff; color: #3538cd; }
        .badge.completed { background: #ecfdf3; color: var(--ok); }
        .badge.failed, .badge.killed, .badge.cancelled { background: #fef3f2; color: var(--bad); }
        .badge.paused, .badge.backing-off { background: #fffaeb; color: var(--warn); }
        .badge.suspended, .badge.scheduled, .badge.pending { background: #f2f4f7; color: #344054; }
        .error { background: #fef3f2; color: var(--bad); border: 1px solid #fecdca; padding: 8px 12px; border-radius: 6px; margin: 8px 0; white-space: pre-wrap; }
        .note { color: var(--muted); margin: 8px 0; }
        dl.summary { display: grid; grid-template-columns: 170px 1fr; gap: 6px 12px; background: #fff; border: 1px solid var(--line); padding: 12px 16px; margin: 0; }
        dl.summary dt { color: var(--muted); }
        dl.summary dd { margin: 0; }
        ol.timeline { list-style: none; padding: 0; margin: 0; background: #fff; border: 1px solid var(--line); }
        ol.timeline li { display: grid; grid-template-columns: 44px 22px 260px 1fr; gap: 8px; padding: 7px 12px; border-bottom: 1px solid var(--line); }
        ol.timeline li .index { color: var(--muted); }
        ol.timeline li.pending .mark { color: var(--warn); }
        ol.timeline li .mark { color: var(--ok); }
        ol.timeline li .detail { font-family: ui-monospace, Menlo, monospace; font-size: 12.5px; word-break: break-all; }
        .toolbar { display: flex; gap: 8px; margin: 10px 0; align-items: center; }
        """#
}
