# render_ruby.rb - the render benchmark on Shopify's ruby-liquid: parses TEMPLATE once (strict
# mode), then renders each context of DATA.jsonl (one per line) once, timing only the renders
# (each context is parsed just before its render, off the clock); prints "ruby-liquid: N renders in S s, B bytes output". The money filter is the
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
bytes = 0
n = 0
s = 0.0
File.foreach(data) do |l|
  c = JSON.parse(l)
  t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  bytes += t.render!(c).bytesize
  s += Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
  n += 1
end
puts format("ruby-liquid: %d renders in %.3f s, %d bytes output", n, s, bytes)
