# render.rb - oracle side of the differential test: renders one case with
# Shopify's ruby-liquid (strict parse mode, render! so errors raise) and
# prints the output, or "ERROR" on any Liquid error.
# Usage: TZ=UTC ruby render.rb TEMPLATE DATA_JSON PARTIALS_DIR
require "liquid"
require "json"
require "bigdecimal"

# Independent implementation of the documented `money` email filter.
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
begin
  t = Liquid::Template.parse(File.read(tpl), error_mode: :strict)
  ctx = data && File.exist?(data) ? JSON.parse(File.read(data)) : {}
  $stdout.write(t.render!(ctx))
rescue Liquid::Error, ZeroDivisionError => e
  $stdout.write("ERROR")
  $stderr.puts e.message
end
