// The one way a number is shown in hex: 0x followed by lowercase digits, no padding.
export const hex = (value: bigint | number): string => '0x' + value.toString(16);
