package kdlv2

import (
	"regexp"
	"strings"
)

// japaneseMessages gives each syntax-error message of this package its Japanese wording. The
// English texts are built in many places with fmt; matching them here keeps the two languages side
// by side, and a test checks that every message the package produces has an entry.
var japaneseMessages = []struct {
	re *regexp.Regexp
	ja string
}{
	{regexp.MustCompile(`^invalid UTF-8 byte (0x[0-9a-f]+): KDL files must be UTF-8 text$`), "不正な UTF-8 のバイト $1 があります: KDL ファイルは UTF-8 で書いてください"},
	{regexp.MustCompile(`^unexpected '\}': no block is open here; remove it or add the missing '\{'$`), "予期しない '}' があります: ここで開いているブロックはありません。削除するか、足りない '{' を追加してください"},
	{regexp.MustCompile(`^'#' does not start a comment in KDL: use // for comments$`), "KDL では '#' はコメントになりません: コメントには // を使ってください"},
	{regexp.MustCompile(`^a node ends with its '\}' block: start the next node on a new line or after ';'$`), "ノードは '}' のブロックで終わります: 次のノードは改行するか ';' の後に書いてください"},
	{regexp.MustCompile(`^this '\{' is never closed: add the matching '\}'$`), "この '{' が閉じられていません: 対応する '}' を追加してください"},
	{regexp.MustCompile(`^comment '/\*' is never closed: add '\*/'$`), "コメント '/*' が閉じられていません: '*/' を追加してください"},
	{regexp.MustCompile(`^type annotation '\(' is not closed on its line: add '\)'$`), "型注釈の '(' が同じ行で閉じられていません: ')' を追加してください"},
	{regexp.MustCompile(`^type annotation '\(' is never closed: add '\)'$`), "型注釈の '(' が閉じられていません: ')' を追加してください"},
	{regexp.MustCompile(`^invalid number (".*"): quote it if it is meant as a string$`), "不正な数値 $1 です: 文字列のつもりなら引用符で囲んでください"},
	{regexp.MustCompile(`^unknown keyword (".*"): KDL keywords are #true, #false and #null$`), "不明なキーワード $1 です: KDL のキーワードは #true, #false, #null です"},
	{regexp.MustCompile(`^raw string is never closed: add (.*)$`), "raw 文字列が閉じられていません: $1 を追加してください"},
	{regexp.MustCompile(`^string is never closed: add the closing '"'$`), "文字列が閉じられていません: 閉じる '\"' を追加してください"},
	{regexp.MustCompile(`^incomplete escape at end of file$`), "ファイルの終わりでエスケープが途切れています"},
	{regexp.MustCompile(`^invalid unicode escape: write \\u\{XXXX\} with 1 to 6 hex digits$`), `不正な Unicode エスケープです: \u{XXXX} の形で 1〜6 桁の16進数を書いてください`},
	{regexp.MustCompile(`^invalid unicode escape (.*): not a Unicode scalar value$`), "不正な Unicode エスケープ $1 です: Unicode のスカラー値ではありません"},
	{regexp.MustCompile(`^invalid escape (\\.+): use \\n, \\t, \\", \\\\ or \\u\{…\}$`), `不正なエスケープ $1 です: \n, \t, \", \\, \u{…} を使ってください`},
	{regexp.MustCompile(`^a multi-line string must start with a newline right after """$`), `複数行文字列は """ の直後で改行してください`},
	{regexp.MustCompile(`^multi-line string is never closed: add (.*)$`), "複数行文字列が閉じられていません: $1 を追加してください"},
	{regexp.MustCompile(`^the closing (.*) of a multi-line string must be alone on its line$`), "複数行文字列を閉じる $1 は単独の行に書いてください"},
	{regexp.MustCompile(`^multi-line string: line (\d+) is indented less than the closing (.*)$`), "複数行文字列: $1 行目のインデントが閉じる $2 より浅くなっています"},
	{regexp.MustCompile(`^the KDL parser failed on this file \((.*)\)$`), "KDL パーサーがこのファイルの読み込みに失敗しました"},
}

// japanese returns the Japanese wording of a syntax-error message. A message from the parser
// library that has no entry gets a general wording: the position and the excerpt still show the
// place, and no English is mixed into the Japanese text.
func japanese(en string) string {
	if rest, ok := strings.CutPrefix(en, "multi-line string: "); ok && !strings.HasPrefix(rest, "line ") {
		return "複数行文字列: " + japanese(rest)
	}
	if m := unexpectedEn.FindStringSubmatch(en); m != nil {
		name, ok := tokenNamesJa[m[1]]
		if !ok {
			name = "字句"
		}
		return "予期しない" + name + "があります（引用符、プロパティの '='、'{' と '}' の対応を確認してください）"
	}
	for _, m := range japaneseMessages {
		if m.re.MatchString(en) {
			return m.re.ReplaceAllString(en, m.ja)
		}
	}
	return "KDL の構文が正しくありません"
}

var unexpectedEn = regexp.MustCompile(`^unexpected (.*) \(check quoting, '=' in properties and '\{'/'\}' pairs\)$`)

// tokenNamesJa are the Japanese names of the tokens humanizeLibMessage names in English.
var tokenNamesJa = map[string]string{
	"end of line": "改行", "space": "空白", "comment": "コメント", "'/-'": " '/-' ", "type annotation": "型注釈",
	"number": "数値", "boolean": "真偽値", "null": " null ", "bare word": "引用符のない語", "string": "文字列",
	"'{'": " '{' ", "'}'": " '}' ", "'('": " '(' ", "')'": " ')' ", "'='": " '=' ", "';'": " ';' ", "'\\'": " '\\' ",
	"end of file": "ファイルの終わり", "character": "文字",
}
