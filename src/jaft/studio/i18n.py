"""The UI's words in Japanese (default) and English: one table, one lookup.

Japanese is served at ``/``, English at ``/en/`` (two layouts of the same app; the header links
switch). A key missing in one language is a test failure, not a fallback at run time.
"""

from __future__ import annotations

LANGS = ("ja", "en")

# key: (Japanese, English)
STRINGS: dict[str, tuple[str, str]] = {
    "title": ("jaft studio — 日本語LLM適応", "jaft studio — adapt LLMs to Japanese"),
    "switch": ("[English](/en/)", "[日本語](/)"),
    "workdir": ("作業ディレクトリ", "working directory"),
    # tabs
    "tab_model": ("モデル", "Model"),
    "tab_data": ("データ", "Data"),
    "tab_train": ("学習", "Train"),
    "tab_eval": ("評価", "Eval"),
    "tab_export": ("エクスポート", "Export"),
    "tab_chat": ("チャット", "Chat"),
    "tab_runs": ("実行一覧", "Runs"),
    # shared
    "command": ("同等のコマンド", "equivalent command"),
    "log": ("ログ (末尾)", "log (tail)"),
    "status": ("状態", "status"),
    "refresh": ("更新", "Refresh"),
    "stop": ("停止", "Stop"),
    "resume": ("再開", "Resume"),
    "progress": ("進捗", "progress"),
    "started": ("開始しました", "started"),
    "running": ("実行中", "running"),
    "finished": ("完了", "finished"),
    "failed": ("失敗", "failed"),
    "stopped": ("停止済み", "stopped"),
    "incomplete": ("未完了", "incomplete"),
    "no_job": ("まだ何も実行していません", "nothing started yet"),
    "error": ("エラー", "error"),
    # model tab
    "registry": ("対応モデル (レジストリ)", "supported models (registry)"),
    "doctor": ("環境チェック (doctor)", "machine check (doctor)"),
    "run_doctor": ("環境をチェック", "Check this machine"),
    "model": ("モデル (キー・Hub ID・ローカルパス)", "model (registry key, Hub id or local path)"),
    "method": ("手法", "method"),
    "auto": ("自動 (プランナー)", "auto (planner)"),
    "plan": ("このマシンでの推奨 (plan)", "recommendation for this machine (plan)"),
    "run_plan": ("推奨を計算", "Plan"),
    "use_model": ("このモデルを学習に使う", "Use this model for training"),
    "make_tiny": ("テスト用の極小モデルを作成 (init-tiny)", "Make a tiny test model (init-tiny)"),
    "tiny_out": ("極小モデルの出力先", "tiny model output"),
    # data tab
    "inputs": ("入力ファイル (1行に1つ、空なら同梱サンプル)", "input files (one per line; empty: bundled samples)"),
    "samples": ("同梱サンプル", "bundled samples"),
    "mode": ("実行モード", "execution mode"),
    "data_out": ("出力ディレクトリ", "output directory"),
    "augment": ("言語的バリエーション数/件", "linguistic variants per record"),
    "val_ratio": ("検証データの割合", "validation share"),
    "seed": ("シード", "seed"),
    "tasks": ("タスク", "tasks"),
    "run_prepare": ("データを準備", "Prepare data"),
    "report": ("レポート", "report"),
    "by_reason": ("理由別", "by reason"),
    "rejects": ("除外されたレコード (抜粋)", "rejected records (sample)"),
    "variants": ("言語的バリエーション (抜粋)", "linguistic variants (sample)"),
    # train tab
    "stage": ("段階", "stage"),
    "data_dir": ("データ (準備済みディレクトリ)", "data (prepared directory)"),
    "from_run": ("SFT の実行ディレクトリ (GRPO の出発点)", "SFT run directory (GRPO starts from it)"),
    "run_out": ("実行ディレクトリ (空なら runs/… を自動)", "run directory (empty: runs/… chosen for you)"),
    "epochs": ("エポック数", "epochs"),
    "max_steps": ("最大ステップ数 (-1: エポックで決定)", "max steps (-1: from epochs)"),
    "lr": ("学習率 (0: モデルの戦略から)", "learning rate (0: from the model's strategy)"),
    "batch": ("バッチサイズ (0: 戦略から)", "batch size (0: from the strategy)"),
    "grad_accum": ("勾配累積ステップ", "gradient accumulation steps"),
    "lora_r": ("LoRA r (ランク)", "LoRA r (rank)"),
    "lora_alpha": ("LoRA α", "LoRA alpha"),
    "max_seq_length": ("最大系列長 (トークン)", "max sequence length (tokens)"),
    "source": ("出所", "source"),
    "strategy_note": ("モデルを選ぶと戦略の値が入ります。変更した項目だけがコマンドに渡されます。",
                      "Choosing a model fills in its strategy's values; only the fields you change go into "
                      "the command."),
    "logging_steps": ("ログ間隔 (ステップ)", "log every N steps"),
    "system_prompt": ("システムプロンプト", "system prompt"),
    "num_generations": ("グループ当たりの生成数", "completions per prompt"),
    "beta": ("KL 係数 β", "KL coefficient β"),
    "preview": ("設定を確認 (どこから来たか)", "Preview settings (where each comes from)"),
    "start": ("学習を開始", "Start training"),
    "curves": ("損失・報酬・温度", "loss / reward / temperature"),
    "applied": ("適用された設定", "applied settings"),
    # eval tab
    "eval_before": ("比較元 (学習前のモデル)", "before (base model)"),
    "eval_after": ("比較先 (実行ディレクトリ)", "after (run directory)"),
    "limit": ("問題数", "problems"),
    "max_new_tokens": ("最大生成トークン数", "max new tokens"),
    "run_eval": ("評価を実行", "Run evaluation"),
    "eval_table": ("学習前後の比較", "before / after"),
    "generations": ("生成結果 (並べて表示)", "generations side by side"),
    # export tab
    "export_run": ("エクスポートする実行ディレクトリ", "run directory to export"),
    "export_out": ("出力ディレクトリ (空なら RUN/export)", "output directory (empty: RUN/export)"),
    "quant": ("量子化", "quantization"),
    "ollama_name": ("Ollama モデル名 (Ollama があれば登録)", "Ollama model name (registered when Ollama is installed)"),
    "run_export": ("エクスポート", "Export"),
    "fidelity": ("忠実度 (top-1 一致率・KL・トークン化)", "fidelity (top-1 agreement, KL, tokenization)"),
    "modelfile": ("Modelfile", "Modelfile"),
    "downloads": ("ダウンロード", "downloads"),
    # chat tab
    "chat_source": ("モデル (実行ディレクトリ・モデル・.gguf)", "model (run directory, model directory or .gguf)"),
    "load": ("読み込む", "Load"),
    "message": ("メッセージ", "message"),
    "send": ("送信", "Send"),
    "clear": ("クリア", "Clear"),
    "reasoning": ("推論 (<think>)", "reasoning (<think>)"),
    "temperature": ("温度", "temperature"),
    "loaded": ("読み込みました", "loaded"),
    "trained_with": ("学習時のシステムプロンプト", "system prompt used in training"),
    # runs tab
    "runs": ("実行ディレクトリ (UI・CLI どちらから開始したものも)", "run directories (started from the UI or the CLI)"),
    "run_detail": ("選択した実行", "selected run"),
    "path": ("パス", "path"),
}

MESSAGES: dict[str, tuple[str, str]] = {
    # Bad-input messages; {…} fields are filled by the caller.
    "busy": ("{path} では既に実行中です ({job})。完了を待つか停止してください。",
             "{path} already has a job running ({job}); wait for it or stop it first."),
    "exists": ("{path} には既に実行結果があります。別の出力先を選ぶか、再開してください。",
               "{path} already holds a run; choose another output or resume it."),
    "missing": ("{what}: {path} が見つかりません。", "{what}: {path} does not exist."),
    "range": ("{what} は {lo} 〜 {hi} の範囲で指定してください (入力値: {value})。",
              "{what} must be between {lo} and {hi} (got {value})."),
    "required": ("{what} を入力してください。", "{what} is required."),
}


def t(key: str, lang: str = "ja") -> str:
    """The UI string ``key`` in ``lang`` (``ja`` or ``en``); KeyError for an unknown key (a bug)."""
    return STRINGS[key][LANGS.index(lang)]


def msg(key: str, lang: str = "ja", **fields: object) -> str:
    """A bad-input message in ``lang`` with its fields filled in."""
    return MESSAGES[key][LANGS.index(lang)].format(**fields)
