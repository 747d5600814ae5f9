# render_ruby.rb - the render benchmark on Shopify's ruby-liquid: parses TEMPLATE once (strict
# mode), parses every context of DATA.jsonl (one per line) before the clock starts, then renders
# each once; prints "ruby-liquid: N renders in S s, B bytes output". The money filter is the
# oracle's of test/liquid/diff/render.rb. Usage: ruby render_ruby.rb TEMPLATE DATA.jsonl PARTIALS_DIR
require "liquid"
require "json"
require "bigdecimal"

# The documented `money` e-mail filter (same as test/liquid/diff/render.rb).
module MoneyFilter
  def money(input, symbol = "")
    return nil if input.nil?
    n = Liquid::Utils.to_number(input)
    d = BigDecimal(n.to_s).round(2, BigDecimal::ROUND_HALF_UP)
    neg = d.negative?
    cents = (d.abs * 100).to_i
    int = (cents / 100).to_s.reverse.scan(/\d{1,3}/).join(",").reverse
    "#{neg ? '-' : ''}#{symbol}#{int}.#{format('%02d', cents % 100)}"
  end
end
Liquid::Template.register_filter(MoneyFilter)

tpl, data, partials = ARGV
Liquid::Template.file_system = Liquid::LocalFileSystem.new(partials, "%s.liquid")
t = Liquid::Template.parse(File.read(tpl), error_mode: :strict)
ctxs = File.readlines(data).map { |l| JSON.parse(l) }
bytes = 0
t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
ctxs.each { |c| bytes += t.render!(c).bytesize }
s = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
puts format("ruby-liquid: %d renders in %.3f s, %d bytes output", ctxs.size, s, bytes)
