"""The list-file and frame-order readers that every dataset and data tool shares (m33d_mm.datasets.lists)."""
import pytest

from m33d_mm.datasets.lists import frame_sort_key, read_list_lines, read_split_file


def test_list_lines_skip_blanks_and_comments_and_name_file_and_line(tmp_path):
    path = tmp_path / 'list.txt'
    path.write_text('# header\n\n  a 1  \n#b 2\nc\t3\n')
    entries = read_list_lines(str(path), 'annotation list')
    assert [(e.number, e.text, e.fields) for e in entries] == [(3, 'a 1', ['a', '1']), (5, 'c\t3', ['c', '3'])]
    assert entries[0].where == f'{path}:3'
    with pytest.raises(FileNotFoundError, match=r'annotation list .*missing\.txt does not exist'):
        read_list_lines(str(tmp_path / 'missing.txt'), 'annotation list')


def test_split_files_drop_trailing_comments_and_refuse_an_empty_list(tmp_path):
    path = tmp_path / 'train.txt'
    path.write_text('scene0000_00  # first\n# scene0001_00\nscene0002_00\n')
    assert read_split_file(str(path)) == ['scene0000_00', 'scene0002_00']
    path.write_text('# nothing\n\n')
    with pytest.raises(ValueError, match=r'split file .*train\.txt lists no scenes'):
        read_split_file(str(path))
    with pytest.raises(FileNotFoundError, match=r'split file .*val\.txt does not exist'):
        read_split_file(str(tmp_path / 'val.txt'))


def test_frames_sort_by_number_then_by_name():
    names = ['10.jpg', 'b.jpg', '000002.jpg', '1.jpg', 'a.jpg']
    assert sorted(names, key=frame_sort_key) == ['1.jpg', '000002.jpg', '10.jpg', 'a.jpg', 'b.jpg']
