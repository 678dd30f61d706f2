using CurvNative.Operators;
using Xunit;

namespace CurvNative.Tests.Operators;

/// <summary>SquareMatrix against element-by-element definitions: float32 goes through AVX 8 x 8 blocks, float64 through
/// 32 x 32 tiles; orders around both block sizes, and 2048 (the column walk that conflicts in L1).</summary>
public class SquareMatrixTests
{
    public static TheoryData<int> Orders => new() { 0, 1, 2, 7, 8, 9, 17, 31, 32, 33, 64, 65, 145, 2048 };

    private static T[] Numbered<T>(int n, Func<int, T> of)
    {
        var m = new T[n * n];
        for (int i = 0; i < m.Length; i++) m[i] = of(i + 1);
        return m;
    }

    private static unsafe void CheckTranspose<T>(int n, Func<int, T> of) where T : unmanaged, IEquatable<T>
    {
        var m = Numbered(n, of);
        var original = (T[])m.Clone();
        fixed (T* p = m) SquareMatrix.TransposeInPlace(p, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (!m[i * n + j].Equals(original[j * n + i])) Assert.Fail($"n = {n}: element ({i}, {j}) is {m[i * n + j]}, expected {original[j * n + i]}.");
    }

    private static unsafe void CheckMirror<T>(int n, Func<int, T> of) where T : unmanaged, IEquatable<T>
    {
        var m = Numbered(n, of);
        var original = (T[])m.Clone();
        fixed (T* p = m) SquareMatrix.MirrorUpper(p, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                var expected = j >= i ? original[i * n + j] : original[j * n + i];
                if (!m[i * n + j].Equals(expected)) Assert.Fail($"n = {n}: element ({i}, {j}) is {m[i * n + j]}, expected {expected}.");
            }
    }

    [Theory, MemberData(nameof(Orders))]
    public void TransposeInPlaceFloat(int n) => CheckTranspose(n, i => (float)i);

    [Theory, MemberData(nameof(Orders))]
    public void TransposeInPlaceDouble(int n) => CheckTranspose(n, i => (double)i);

    [Theory, MemberData(nameof(Orders))]
    public void MirrorUpperFloat(int n) => CheckMirror(n, i => (float)i);

    [Theory, MemberData(nameof(Orders))]
    public void MirrorUpperDouble(int n) => CheckMirror(n, i => (double)i);
}
