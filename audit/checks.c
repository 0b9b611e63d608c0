/* Checks a regex hit must pass: the Luhn digit of bank-card numbers, and the check digit (and a
 * plausible birth date) of 18-character mainland resident ID numbers (GB 11643-1999). Both read
 * the ASCII digits of the match (and, for IDs, a final X), skipping separators. */
#include <stddef.h>

#include "audit/internal.h"

int wg__check_luhn(const char *s, size_t n)
{
    int digits[64];
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            if (nd == sizeof digits / sizeof digits[0])
                return 0;
            digits[nd++] = s[i] - '0';
        }
    }
    if (nd < 2)
        return 0;
    int sum = 0;
    for (size_t k = 0; k < nd; k++) {
        int d = digits[nd - 1 - k];
        if (k % 2 == 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return days[m - 1];
}

int wg__check_cn_id(const char *s, size_t n)
{
    static const int weight[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char check[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
    char c[18];
    size_t nc = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == 'x')
            ch = 'X';
        if ((ch >= '0' && ch <= '9') || ch == 'X') {
            if (nc == 18)
                return 0;
            c[nc++] = ch;
        }
    }
    if (nc != 18 || c[0] < '1' || c[0] > '8')
        return 0;
    for (int i = 0; i < 17; i++)
        if (c[i] == 'X')
            return 0;
    int y = (c[6] - '0') * 1000 + (c[7] - '0') * 100 + (c[8] - '0') * 10 + (c[9] - '0');
    int m = (c[10] - '0') * 10 + (c[11] - '0');
    int d = (c[12] - '0') * 10 + (c[13] - '0');
    if (y < 1900 || y > 2099 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return 0;
    int sum = 0;
    for (int i = 0; i < 17; i++)
        sum += (c[i] - '0') * weight[i];
    return c[17] == check[sum % 11];
}
