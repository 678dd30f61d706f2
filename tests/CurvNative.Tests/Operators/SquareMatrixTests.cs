using CurvNative.Kernels;
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

    /// <summary>Transposed: element (i, j) is the original (j, i). Mirrored: the upper triangle stays, and below it
    /// (i, j) is the original (j, i).</summary>
    private static unsafe void Check<T>(int n, Func<int, T> of, bool mirror) where T : unmanaged, IEquatable<T>
    {
        var m = Numbered(n, of);
        var original = (T[])m.Clone();
        fixed (T* p = m)
        {
            if (mirror) SquareMatrix.MirrorUpper(p, n);
            else SquareMatrix.TransposeInPlace(p, n);
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                var expected = mirror && j >= i ? original[i * n + j] : original[j * n + i];
                if (!m[i * n + j].Equals(expected)) Assert.Fail($"n = {n}: element ({i}, {j}) is {m[i * n + j]}, expected {expected}.");
            }
    }

    [Theory, MemberData(nameof(Orders))]
    public void TransposeInPlaceFloat(int n) => Check(n, i => (float)i, mirror: false);

    [Theory, MemberData(nameof(Orders))]
    public void TransposeInPlaceDouble(int n) => Check(n, i => (double)i, mirror: false);

    [Theory, MemberData(nameof(Orders))]
    public void MirrorUpperFloat(int n) => Check(n, i => (float)i, mirror: true);

    [Theory, MemberData(nameof(Orders))]
    public void MirrorUpperDouble(int n) => Check(n, i => (double)i, mirror: true);
}
