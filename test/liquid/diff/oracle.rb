# oracle.rb - what both ruby-liquid scripts share: the libraries and the independent
# implementation of the documented `money` e-mail filter, registered with Liquid.
require "liquid"
require "json"
require "bigdecimal"

module MoneyFilter
  def money(input, symbol = "")
    return nil if input.nil?
    # a float of 2^53 or more no longer tells its integers apart: no exact amount, an error
    raise Liquid::ArgumentError, "money: no exact amount" if input.is_a?(Float) && !(input.abs < 2**53)
    n = Liquid::Utils.to_number(input)
    d = BigDecimal(n.to_s).round(2, BigDecimal::ROUND_HALF_UP)
    neg = d.negative?
    cents = (d.abs * 100).to_i
    int = (cents / 100).to_s.reverse.scan(/\d{1,3}/).join(",").reverse
    "#{neg ? '-' : ''}#{symbol}#{int}.#{format('%02d', cents % 100)}"
  end
end
Liquid::Template.register_filter(MoneyFilter)
