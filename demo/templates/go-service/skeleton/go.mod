module acmepay.example/${{ values.name }}

go 1.26
